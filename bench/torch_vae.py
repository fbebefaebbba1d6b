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

    def encode(self, enc_ids):
        x = self.embed(enc_ids)
        for lin, gate in zip(self.hw, self.hw_gate):
            t = torch.sigmoid(gate(x))
            x = x + t * (F.relu(lin(x)) - x)
        _, (h, _) = self.encoder(self.drop(x))
        h = torch.cat([h[0], h[1]], dim=1)
        return self.mu(h), self.logvar(h)

    def decode(self, dec_ids, z):
        x = self.embed(dec_ids)
        zs = z.unsqueeze(0).expand(x.size(0), -1, -1)
        h0 = torch.tanh(self.dec_init(z)).unsqueeze(0)
        out, _ = self.decoder(torch.cat([x, zs], dim=2), (h0, torch.zeros_like(h0)))
        return self.out(self.drop(out))

    def forward(self, enc_ids, dec_ids, targets, beta, free_bits):
        mu, logvar = self.encode(enc_ids)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl_dim = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(dim=0)
        kl_loss = torch.clamp(kl_dim, min=free_bits).sum()
        logits = self.decode(dec_ids, z)
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                              reduction="sum") / enc_ids.size(1)
        return nll + beta * kl_loss


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
    p.add_argument("--device", default="cuda",
                   help="cuda, or cpu to check the script on a machine without a GPU (its timings mean nothing)")
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
    loss = model(enc_ids, word_dropout(dec_in, args.word_dropout), targets,
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
    for batch in args.batches:
        report(args, batch, measure(args, batch, device), device)


if __name__ == "__main__":
    main()
