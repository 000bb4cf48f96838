#!/usr/bin/python3
"""Expected numbers for tests/test_optim.cpp, computed by torch.optim (run by hand, not by the tests).

    /usr/bin/python3 tools/optim_reference.py > /tmp/optim_expected.txt

Every case minimises the fixed quadratic
    f(w) = 0.5 * sum_i a_i * (w_i - c_i)^2,   df/dw_i = a_i * (w_i - c_i)
over two float32 parameters, "fc.weight" (3 elements) and "fc.bias" (2), concatenated as w below. The
gradient is computed as a * (w - c) in float32, exactly as the C++ test does. The script prints, per
case, w after each of STEPS steps as C++ initializers (9 significant digits: enough to round-trip a
float; the test checks 1e-6 and also bit equality). It also prints torch.optim.lr_scheduler values for
the schedule test.
"""
import torch

torch.set_num_threads(1)

STEPS = 5
A = [1.0, 2.0, 0.5, 4.0, 0.25]
C = [1.0, -1.0, 2.0, 0.5, -2.0]
W0 = [0.0, 0.5, -1.0, 2.0, -0.3]

# name -> (optimizer class, kwargs, {step index (0-based) before which lr changes: new lr})
CASES = {
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1), {}),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9), {}),
    "sgd_dampening": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5), {}),
    "sgd_nesterov_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    "sgd_momentum_wd": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.1), {}),
    "sgd_lr_change": (torch.optim.SGD, dict(lr=0.1, momentum=0.9), {2: 0.03}),
    "adam_default": (torch.optim.Adam, dict(lr=1e-3), {}),
    "adam_wd": (torch.optim.Adam, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01), {}),
    "adam_lr_change": (torch.optim.Adam, dict(lr=0.1), {3: 0.01}),
    "rmsprop_default": (torch.optim.RMSprop, dict(lr=1e-2), {}),
    "rmsprop_momentum_wd": (torch.optim.RMSprop,
                            dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.9), {}),
}


def run(cls, kwargs, lr_changes):
    a = torch.tensor(A, dtype=torch.float32)
    c = torch.tensor(C, dtype=torch.float32)
    weight = torch.tensor(W0[:3], dtype=torch.float32, requires_grad=True)
    bias = torch.tensor(W0[3:], dtype=torch.float32, requires_grad=True)
    opt = cls([weight, bias], **kwargs)
    rows = []
    for step in range(STEPS):
        if step in lr_changes:
            for group in opt.param_groups:
                group["lr"] = lr_changes[step]
        with torch.no_grad():
            w = torch.cat([weight, bias])
            g = a * (w - c)
        weight.grad = g[:3].clone()
        bias.grad = g[3:].clone()
        opt.step()
        rows.append(torch.cat([weight, bias]).detach().tolist())
    return rows


def main():
    print(f"// torch {torch.__version__}")
    for name, (cls, kwargs, lr_changes) in CASES.items():
        print(f"// {name}: {cls.__name__}({kwargs}), lr changes {lr_changes}")
        print(f"const float {name}[{STEPS}][5] = {{")
        for row in run(cls, kwargs, lr_changes):
            print("    {" + ", ".join(f"{v:.9g}f" for v in row) + "},")
        print("};")

    # Schedules, stepped the way a training loop does (scheduler.step() after each epoch): lr for epochs 0..
    def lrs(make, epochs):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=1e-2)
        sched = make(opt)
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    sched = torch.optim.lr_scheduler
    for name, make in {
        "exp_0_9478": lambda o: sched.ExponentialLR(o, gamma=0.9478),
        "step_3_0_5": lambda o: sched.StepLR(o, step_size=3, gamma=0.5),
        "cosine_10": lambda o: sched.CosineAnnealingLR(o, T_max=10),
        "cosine_8_1e_3": lambda o: sched.CosineAnnealingLR(o, T_max=8, eta_min=1e-3),
    }.items():
        values = lrs(make, 12)
        print(f"const double lr_{name}[12] = {{" + ", ".join(f"{v:.17g}" for v in values) + "};")


if __name__ == "__main__":
    main()
