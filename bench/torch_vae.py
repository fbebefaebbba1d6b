"""Training throughput of poetvae's model in PyTorch with cuDNN.

Trains the same character-level VAE as poetvae (the Go code's model/graph.go)
on a CUDA GPU and reports poems per second for several batch sizes, so that
poetvae's own CUDA engine can be compared with PyTorch+cuDNN:

  shared embedding -> highway layers -> dropout -> bidirectional LSTM
  -> [h_fwd; h_bwd] -> mu, log sigma^2 -> z = mu + sigma * eps
  decoder: h0 = tanh(W z + b), input [embedding; z] at every step, one LSTM
  layer -> dropout -> softmax over the vocabulary
  loss = NLL (summed over steps, batch mean) + beta * sum_d max(KL_d, free bits)

The data are random character ids made on the GPU once per batch size, so
the timed loop holds training steps only: forward, backward, gradient
clipping by global norm and an Adam update.

With --check FIXTURE it times nothing: it loads poetvae's weights, batches,
noise and dropout masks from FIXTURE (written by poetvae's TestTorchModel,
model/torch_test.go; make torch-check) and holds its loss and every
gradient, in float64, to poetvae's, so that the benchmark is known to
compare the same model.
"""

import argparse
import json
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit("torch_vae.py: PyTorch is not installed")

PAD, BOS, EOS, UNK = 0, 1, 2, 3


class PoetVAE(nn.Module):
    def __init__(self, vocab, embed, highway, enc_hidden, dec_hidden, latent, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.hw = nn.ModuleList(nn.Linear(embed, embed) for _ in range(highway))
        self.hw_gate = nn.ModuleList(nn.Linear(embed, embed) for _ in range(highway))
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.LSTM(embed, enc_hidden, bidirectional=True)
        self.mu = nn.Linear(2 * enc_hidden, latent)
        self.logvar = nn.Linear(2 * enc_hidden, latent)
        self.dec_init = nn.Linear(latent, dec_hidden)
        self.decoder = nn.LSTM(embed + latent, dec_hidden)
        self.out = nn.Linear(dec_hidden, vocab)

    def dropout(self, x, mask):
        """Dropout, or the given inverted-dropout mask (--check)."""
        return self.drop(x) if mask is None else x * mask

    def encode(self, enc_ids, mask=None):
        x = self.embed(enc_ids)
        for lin, gate in zip(self.hw, self.hw_gate):
            t = torch.sigmoid(gate(x))
            x = x + t * (F.relu(lin(x)) - x)
        _, (h, _) = self.encoder(self.dropout(x, mask))
        h = torch.cat([h[0], h[1]], dim=1)
        return self.mu(h), self.logvar(h)

    def decode(self, dec_ids, z, mask=None):
        x = self.embed(dec_ids)
        zs = z.unsqueeze(0).expand(x.size(0), -1, -1)
        h0 = torch.tanh(self.dec_init(z)).unsqueeze(0)
        out, _ = self.decoder(torch.cat([x, zs], dim=2), (h0, torch.zeros_like(h0)))
        return self.out(self.dropout(out, mask))

    def forward(self, enc_ids, dec_ids, targets, beta, free_bits,
                eps=None, enc_mask=None, dec_mask=None):
        """The loss, its NLL and its KL (before the free-bits floor), each a
        batch mean; eps and the masks are drawn here unless given."""
        mu, logvar = self.encode(enc_ids, enc_mask)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl_dim = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(dim=0)
        kl_loss = torch.clamp(kl_dim, min=free_bits).sum()
        logits = self.decode(dec_ids, z, dec_mask)
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                              reduction="sum") / enc_ids.size(1)
        return nll + beta * kl_loss, nll, kl_dim.sum()


def poetvae_views(model):
    """Yields (name, view) for each of poetvae's parameters (model/params.go):
    view(t) is the part of t, a PyTorch parameter or its gradient, that holds
    it, shaped as poetvae stores it (rows x columns, used as x.W). poetvae
    keeps one weight per LSTM gate (i, f, g, o, PyTorch's order too) and one
    bias, so PyTorch's second LSTM bias (bias_hh) stays zero."""
    def T(get):
        return lambda t: get(t).t()

    def row(get):
        return lambda t: get(t).unsqueeze(0)

    yield "embed", lambda m: m.embed.weight
    for l in range(len(model.hw)):
        yield f"highway{l}.W", T(lambda m, l=l: m.hw[l].weight)
        yield f"highway{l}.b", row(lambda m, l=l: m.hw[l].bias)
        yield f"highway{l}.Wgate", T(lambda m, l=l: m.hw_gate[l].weight)
        yield f"highway{l}.bgate", row(lambda m, l=l: m.hw_gate[l].bias)

    def lstm(prefix, lstm_of, suffix, inputs, with_z):
        # inputs: the width of the embedding part of the LSTM's input; the
        # decoder's input is [embedding; z], so its Wz is the rest.
        for k, gate in enumerate("ifgo"):
            def gate_rows(t, k=k):
                H = t.size(0) // 4
                return t[k * H:(k + 1) * H]
            yield f"{prefix}Wx.{gate}", T(lambda m, g=gate_rows: g(getattr(lstm_of(m), "weight_ih_l0" + suffix))[:, :inputs])
            if with_z:
                yield f"{prefix}Wz.{gate}", T(lambda m, g=gate_rows: g(getattr(lstm_of(m), "weight_ih_l0" + suffix))[:, inputs:])
            yield f"{prefix}Wh.{gate}", T(lambda m, g=gate_rows: g(getattr(lstm_of(m), "weight_hh_l0" + suffix)))
            yield f"{prefix}b.{gate}", row(lambda m, g=gate_rows: g(getattr(lstm_of(m), "bias_ih_l0" + suffix)))

    E = model.embed.weight.size(1)
    yield from lstm("enc_fwd.", lambda m: m.encoder, "", E, False)
    yield from lstm("enc_bwd.", lambda m: m.encoder, "_reverse", E, False)
    He = model.encoder.hidden_size
    for head in ("mu", "logvar"):
        yield f"{head}.Wf", T(lambda m, h=head: getattr(m, h).weight[:, :He])
        yield f"{head}.Wb", T(lambda m, h=head: getattr(m, h).weight[:, He:])
        yield f"{head}.b", row(lambda m, h=head: getattr(m, h).bias)
    yield "dec_init.W", T(lambda m: m.dec_init.weight)
    yield "dec_init.b", row(lambda m: m.dec_init.bias)
    yield from lstm("dec.", lambda m: m.decoder, "", E, True)
    yield "out.W", T(lambda m: m.out.weight)
    yield "out.b", row(lambda m: m.out.bias)


class Grads:
    """Reads a module's gradients through the same attribute paths as its
    parameters, so that one view serves both."""

    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        value = getattr(self.module, name)
        if isinstance(value, nn.Parameter):
            return value.grad
        if isinstance(value, nn.ModuleList):
            return [Grads(m) for m in value]
        if isinstance(value, nn.Module):
            return Grads(value)
        return value


def check(path, device):
    """Loads a fixture written by poetvae's tests (model TestTorchModel):
    poetvae's weights, batches with their noise and dropout masks, and the
    loss and gradients poetvae computed on each in float64; computes them with
    PyTorch's modules (cuDNN's LSTM on a GPU) and compares. Exit status 1
    when they differ by more than the fixture's tolerance."""
    with open(path) as f:
        fx = json.load(f)
    c = fx["config"]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = PoetVAE(c["vocab"], c["embed"], c["highway"], c["enc_hidden"], c["dec_hidden"],
                    c["latent"], c["dropout"]).double().to(device)
    params = {p["name"]: p for p in fx["params"]}
    views = list(poetvae_views(model))
    if sorted(n for n, _ in views) != sorted(params):
        sys.exit(f"torch_vae.py: {path}: parameters {sorted(params)}, want {sorted(n for n, _ in views)}")
    with torch.no_grad():
        for lstm in (model.encoder, model.decoder):
            for name, p in lstm.named_parameters():
                if name.startswith("bias_hh"):
                    p.zero_()
        for name, view in views:
            v = view(model)
            want = tuple(params[name]["shape"])
            if tuple(v.shape) != want:
                sys.exit(f"torch_vae.py: {path}: {name} is {tuple(v.shape)} here, {want} in poetvae")
            v.copy_(torch.tensor(params[name]["values"], dtype=torch.float64).reshape(want))

    tol, worst = fx["tolerance"], 0.0
    for case in fx["cases"]:
        # The steps of each sequence, as poetvae laid the batch out (time-major).
        B = case["batch"]
        T, Td = len(case["enc_ids"]) // B, len(case["dec_ids"]) // B

        def ids(key, steps):
            return torch.tensor(case[key], dtype=torch.long, device=device).reshape(steps, B)

        def floats(key, *shape):
            return torch.tensor(case[key], dtype=torch.float64, device=device).reshape(*shape)

        model.zero_grad(set_to_none=True)
        model.train()
        loss, nll, kl = model(ids("enc_ids", T), ids("dec_ids", Td), ids("targets", Td),
                              case["beta"], case["free_bits"], eps=floats("eps", B, c["latent"]),
                              enc_mask=floats("enc_mask", T, B, c["embed"]),
                              dec_mask=floats("dec_mask", Td, B, c["dec_hidden"]))
        loss.backward()
        rows = [("loss", rel(loss.item(), case["loss"])), ("NLL", rel(nll.item(), case["nll"])),
                ("KL", rel(kl.item(), case["kl"]))]
        grads = Grads(model)
        for name, view in views:
            rows.append((f"d/d {name}", rel(view(grads).detach().cpu().reshape(-1), case["grads"][name])))
        print(f"{case['name']}:")
        for what, err in rows:
            worst = max(worst, err)
            flag = "" if err <= tol else "   <- differs"
            print(f"  {what:24s} relative error {err:.2e}{flag}")
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    verdict = "the same model" if worst <= tol else "NOT the same model"
    print(f"torch_vae.py --check: PyTorch {torch.__version__} on {device_name}: {verdict} "
          f"(worst relative error {worst:.2e}, tolerance {tol:.0e})")
    return worst <= tol


def rel(a, b):
    """The relative error of a against b, poetvae's, in the 2-norm."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / max(float(b.norm()), 1e-300))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=6000)
    p.add_argument("--lines", type=int, default=4, help="lines of five characters per poem")
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--highway", type=int, default=1)
    p.add_argument("--enc-hidden", type=int, default=256, help="per direction")
    p.add_argument("--dec-hidden", type=int, default=256)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--word-dropout", type=float, default=0.2)
    p.add_argument("--free-bits", type=float, default=0.15)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--batches", default="64,128,256", help="comma-separated batch sizes")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--steps", type=int, default=50, help="training steps per timed run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions")
    p.add_argument("--json", action="store_true", help="one JSON object per batch size")
    p.add_argument("--check", metavar="FIXTURE",
                   help="compare this model's loss and gradients with poetvae's on FIXTURE, "
                        "written by poetvae's tests, instead of timing it")
    p.add_argument("--device", default="cuda",
                   help="cuda, or cpu: the same model on the CPU, beside poetvae's CPU engine")
    args = p.parse_args()
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batches: want comma-separated integers, got {args.batches!r}")
    if not args.batches or min(args.batches) < 1:
        p.error("--batches: want positive batch sizes")
    if args.vocab < 5 or args.lines < 1 or args.runs < 1 or args.steps < 1 or args.warmup < 0:
        p.error("vocab must be at least 5; lines, runs and steps positive; warmup not negative")
    return args


def setup(name, tf32):
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        print(f"torch_vae.py: --device {name}: want cuda or cpu", file=sys.stderr)
        sys.exit(2)
    if not torch.cuda.is_available():
        print("torch_vae.py: CUDA is not available; this benchmark needs a GPU", file=sys.stderr)
        sys.exit(1)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return torch.device("cuda")


def synthetic_batch(args, batch, device):
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    steps = 5 * args.lines
    chars = torch.randint(4, args.vocab, (steps, batch), generator=gen, device=device)
    bos = torch.full((1, batch), BOS, dtype=chars.dtype, device=device)
    eos = torch.full((1, batch), EOS, dtype=chars.dtype, device=device)
    return chars, torch.cat([bos, chars]), torch.cat([chars, eos])


def word_dropout(dec_in, p):
    if p <= 0:
        return dec_in
    drop = torch.rand(dec_in[1:].shape, device=dec_in.device) < p
    return torch.cat([dec_in[:1], dec_in[1:].masked_fill(drop, UNK)])


def build(args, device):
    model = PoetVAE(args.vocab, args.embed, args.highway, args.enc_hidden,
                    args.dec_hidden, args.latent, args.dropout).to(device)
    model.train()
    # fused: one kernel for the whole update, PyTorch's fastest Adam on a GPU
    fused = {"fused": True} if device.type == "cuda" else {}
    return model, torch.optim.Adam(model.parameters(), lr=args.lr, **fused)


def train_step(model, opt, data, args):
    enc_ids, dec_in, targets = data
    loss, _, _ = model(enc_ids, word_dropout(dec_in, args.word_dropout), targets,
                       args.beta, args.free_bits)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), args.clip)
    opt.step()


def measure(args, batch, device):
    torch.manual_seed(args.seed)
    model, opt = build(args, device)
    data = synthetic_batch(args, batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        train_step(model, opt, data, args)
    sync()
    rates = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, opt, data, args)
        sync()
        rates.append(batch * args.steps / (time.perf_counter() - start))
    del model, opt, data
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rates


def report(args, batch, rates, dev):
    median = statistics.median(rates)
    device = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    cudnn, tf32 = torch.backends.cudnn.version(), int(args.tf32)
    if args.json:
        print(json.dumps({"batch": batch, "poems_per_s_median": round(median, 1),
                          "runs": [round(r, 1) for r in rates], "device": device,
                          "torch": torch.__version__, "cudnn": cudnn, "tf32": tf32}), flush=True)
        return
    runs = ",".join(f"{r:.1f}" for r in rates)
    print(f'torch batch={batch} poems_per_s_median={median:.1f} runs={runs} '
          f'device="{device}" torch={torch.__version__} cudnn={cudnn} tf32={tf32}', flush=True)


def main():
    args = parse_args()
    device = setup(args.device, args.tf32)
    if args.check:
        sys.exit(0 if check(args.check, device) else 1)
    for batch in args.batches:
        report(args, batch, measure(args, batch, device), device)


if __name__ == "__main__":
    main()
