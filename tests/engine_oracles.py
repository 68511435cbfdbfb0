"""The oracle of the fused-engine tests: a network run on the reference engine, which fuses nothing."""
import snnkit


def reference_engine_run(net, x):
    """``(output, run state, parameter gradients of output.sum())`` of ``net`` on ``x``, reference engine."""
    net.zero_grad()
    with snnkit.use_engine("reference"):
        out = net(x)
        state = net.run(x)[1]
    out.sum().backward()
    return out, state, [q.grad for q in net.parameters()]
