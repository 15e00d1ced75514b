"""Is one loss better than another? Paired significance on the same test images, over seeds.

For a network trained with two losses (a distillation loss, kd or dkd, and hard), seed s of one
is paired with seed s of the other. Per pair, only the discordant images count (McNemar): b,
those kd gets right and hard wrong, and c, the reverse. Under the null hypothesis that the losses are equally good, each
discordant image is kd's with probability 1/2 in every pair, so the discordant counts pooled over
the seed pairs follow Binomial(b + c, 1/2): one exact two-sided binomial test on the pooled
counts (scipy.stats.binomtest) gives the p-value. Pooling keeps every seed's evidence and stays
exact; a seed pair with no discordant image adds nothing either way.
"""
from typing import NamedTuple

import numpy as np

from distill.core.names import HARD, KD
from distill.training.scores import spread

ALPHA = 0.05  # significance level of the verdicts
KD_BETTER, HARD_BETTER, NO_DIFFERENCE = f"{KD} better", f"{HARD} better", "no significant difference"


class Paired(NamedTuple):
    b: int  # images the first model gets right and the second wrong, summed over seed pairs
    c: int  # the reverse
    p_value: float


def mcnemar(first_correct, second_correct):
    """Exact McNemar test pooled over seed pairs. Each argument: (seeds, images) booleans, row s of
    one paired with row s of the other. Returns the discordant counts and the two-sided p-value."""
    from scipy.stats import binomtest

    first, second = np.asarray(first_correct, bool), np.asarray(second_correct, bool)
    if first.shape != second.shape:
        raise ValueError(f"paired predictions differ in shape: {first.shape} vs {second.shape}")
    b, c = int(np.sum(first & ~second)), int(np.sum(~first & second))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return Paired(b, c, p)


def verdict(test, alpha=ALPHA, first=KD):
    """`kd better` (or `<first> better`), `hard better` or `no significant difference` at `alpha`,
    `first` being the loss of the first model."""
    if test.p_value >= alpha:
        return NO_DIFFERENCE
    return f"{first} better" if test.b > test.c else HARD_BETTER


def kd_vs_hard(kd, hard, labels, loss=KD):
    """kd_gain's entry for one network: `kd` and `hard` are (record, (seeds, images) predicted
    classes) pairs, `kd`'s trained with the distillation loss `loss`; seeds are paired in the order
    both records list them."""
    (kd_record, kd_pred), (hard_record, hard_pred) = kd, hard
    pairs = min(len(kd_pred), len(hard_pred))
    diffs = [k["accuracy"] - h["accuracy"] for k, h in zip(kd_record["per_seed"], hard_record["per_seed"])][:pairs]
    test = mcnemar(kd_pred[:pairs] == labels, hard_pred[:pairs] == labels)
    mean, std, _ = spread(diffs)
    return {
        "loss": loss,
        "mean": mean,
        "std": std,
        "per_seed": [round(d, 6) for d in diffs],
        "seed_pairs": pairs,
        "kd_only_right": test.b,
        "hard_only_right": test.c,
        "p_value": float(f"{test.p_value:.4g}"),  # significant figures: p can be 1e-10
        "verdict": verdict(test, first=loss),
    }


def intervals(gain, images, level=0.95):
    """Two confidence intervals at `level` (in accuracy, like gain's mean) for one kd_vs_hard entry `gain`
    over `images` test images: `seeds`, Student's t over the seed pairs' differences (what another
    seed would see; None for one pair), and `images`, the exact conditional interval of the pooled
    discordant images (Clopper-Pearson on b of b + c, scipy's binomtest), turned into the difference
    (b - c) / (pairs x images): what another draw of test images would see with these models."""
    from scipy.stats import binomtest, t

    n, mean, std = gain["seed_pairs"], gain["mean"], gain["std"]
    seeds = None
    if n >= 2 and std is not None:
        half = float(t.ppf(0.5 + level / 2, n - 1)) * std / np.sqrt(n)
        seeds = [round(mean - half, 6), round(mean + half, 6)]
    b, c = gain["kd_only_right"], gain["hard_only_right"]
    if b + c == 0:
        return {"ci_seeds": seeds, "ci_images": [0.0, 0.0]}
    ci = binomtest(b, b + c, 0.5).proportion_ci(confidence_level=level, method="exact")
    scale = (b + c) / (n * images)
    return {"ci_seeds": seeds, "ci_images": [round((2 * ci.low - 1) * scale, 6), round((2 * ci.high - 1) * scale, 6)]}
