"""ISLR losses on hand-computed cases (architecture §5)."""

import math

import pytest
import torch
from signllm.modeling_signllm_islr import (
    articulator_auxiliary_loss,
    build_label_text_embeddings,
    classification_loss,
    label_contrastive_loss,
    late_fusion,
)
from torch.nn import functional as F

LOG = math.log


def test_classification_loss_hand_computed():
    logits = torch.tensor([[LOG(3.0), 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])
    # p(correct) = 3/4 and 1/2
    expected = (LOG(4 / 3) + LOG(2)) / 2
    assert classification_loss(logits, labels).item() == pytest.approx(expected, abs=1e-6)


def test_classification_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="class ids"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="labels must be"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0]))


def test_articulator_loss_is_mean_of_per_articulator_ce():
    # one clip of class 0, two classes; one articulator per row: CE = log 2, log 4/3, log 4, log 2
    logits = torch.tensor([[[0.0, 0.0]], [[LOG(3.0), 0.0]], [[0.0, LOG(3.0)]], [[1.0, 1.0]]])
    labels = torch.tensor([0])
    expected = (LOG(2) + LOG(4 / 3) + LOG(4) + LOG(2)) / 4
    assert articulator_auxiliary_loss(logits, labels).item() == pytest.approx(expected, abs=1e-6)


def test_articulator_loss_matches_per_articulator_mean_on_a_batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 5, 7, generator=generator)
    labels = torch.tensor([0, 6, 3, 3, 1])
    per_articulator = [F.cross_entropy(logits[a], labels) for a in range(4)]
    assert articulator_auxiliary_loss(logits, labels).item() == pytest.approx(
        sum(per_articulator).item() / 4, abs=1e-6
    )


def _hand_contrastive(tau: float) -> float:
    """labels (0, 0, 1); text columns u0 = u1 = e_x (label 0), u2 = e_y; clips v0 = e_x, v1 = e_y, v2 = e_y.

    Similarity / tau: rows [[1, 1, 0], [0, 0, 1], [0, 0, 1]] / tau. Label 0 occurs twice (weight 1/2 per positive).
    """
    a = 1.0 / tau
    e = math.exp
    # clip -> text, row by row
    row0 = -(0.5 * (a - LOG(2 * e(a) + 1)) * 2)
    row1 = -(0.5 * (0 - LOG(2 + e(a))) * 2)
    row2 = -(a - LOG(2 + e(a)))
    # text -> clip, column by column: columns 0 and 1 are [a, 0, 0], column 2 is [0, a, a]
    col0 = -0.5 * ((a - LOG(e(a) + 2)) + (0 - LOG(e(a) + 2)))
    col2 = -(a - LOG(1 + 2 * e(a)))
    # every label counts 1/2 of each direction: label 0's two rows (columns) share its half
    return ((row0 + row1) / 4 + row2 / 2 + (col0 + col0) / 4 + col2 / 2) / 2


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_contrastive_loss_duplicate_labels_hand_computed(tau):
    visual = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])  # norms differ: cosine similarity ignores them
    text = torch.tensor([[3.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    labels = torch.tensor([0, 0, 1])
    loss = label_contrastive_loss(visual, text, labels, temperature=tau)
    assert loss.item() == pytest.approx(_hand_contrastive(tau), rel=1e-5)


def test_contrastive_loss_weighting_with_distinct_text_columns_hand_computed():
    # two clips of label 0 whose text columns differ (per-sample text variants): both columns are positives
    # of both clips, each weighted 1 / 2. tau = 1, similarities = cosines = [[1, 0], [0, 1]].
    visual = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    e = math.e
    # every row and column is [1, 0] or [0, 1]: loss = -1/2 (log e/(e+1) + log 1/(e+1)) in each direction
    expected = -0.5 * (LOG(e / (e + 1)) + LOG(1 / (e + 1)))
    assert label_contrastive_loss(visual, text, labels, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)
    # the diagonal-only (CLIP) target would treat the other clip of the same sign as a negative
    clip = -LOG(e / (e + 1))
    assert expected != pytest.approx(clip, rel=1e-3)


def _class_balanced_reference(visual, text, labels, tau=0.1):
    """The loss written out label by label: each direction is the mean over the batch's labels of that label's mean
    row (column) loss, a row's target being uniform over the columns (rows) of its label."""
    similarity = F.normalize(visual) @ F.normalize(text).T / tau
    total = 0.0
    for scores in (similarity, similarity.T):  # clip -> text, then text -> clip
        per_label = []
        for label in labels.unique():
            members = (labels == label).nonzero().flatten().tolist()
            rows = [-scores[i].log_softmax(0)[members].mean() for i in members]
            per_label.append(sum(rows) / len(rows))
        total += sum(per_label) / len(per_label)
    return float(total / 2)


def test_contrastive_loss_each_label_counts_equally_not_each_clip():
    generator = torch.Generator().manual_seed(2)
    prototypes = torch.randn(3, 8, generator=generator)
    labels = torch.tensor([0, 2, 0, 1, 2, 0, 0, 0])  # label 0 five times, label 1 once
    visual, text = torch.randn(8, 8, generator=generator), prototypes[labels]
    loss = label_contrastive_loss(visual, text, labels).item()
    assert loss == pytest.approx(_class_balanced_reference(visual, text, labels), rel=1e-5)
    # the unweighted loss (batch mean over clips, diagonal target; what the frequency weights used to reduce to
    # with one text embedding per class) lets label 0 count five times: it is not what the weighting gives
    similarity = F.normalize(visual) @ F.normalize(text).T / 0.1
    diagonal = (F.cross_entropy(similarity, torch.arange(8)) + F.cross_entropy(similarity.T, torch.arange(8))) / 2
    assert abs(loss - diagonal.item()) > 1e-3
    # a frequent label that is badly matched weighs 1/3 of the loss, not 5/8 of it: make label 0's clips worse
    worse = visual.clone()
    worse[labels == 0] = -prototypes[0]
    balanced_rise = label_contrastive_loss(worse, text, labels).item() - loss
    clip_mean_rise = _clip_mean(worse, text, labels) - _clip_mean(visual, text, labels)
    assert 0 < balanced_rise < clip_mean_rise


def _clip_mean(visual, text, labels, tau=0.1):
    """Per-clip mean with the same uniform-over-positives targets (the weighting this loss replaces)."""
    similarity = F.normalize(visual) @ F.normalize(text).T / tau
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(1, keepdim=True)
    return float((-(targets * similarity.log_softmax(1)).sum(1).mean() - (targets * similarity.log_softmax(0)).sum(0).mean()) / 2)


def test_contrastive_loss_unique_labels_is_clip_loss():
    generator = torch.Generator().manual_seed(1)
    visual, text = torch.randn(5, 8, generator=generator), torch.randn(5, 8, generator=generator)
    similarity = F.normalize(visual) @ F.normalize(text).T / 0.1
    targets = torch.arange(5)
    clip = (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2
    loss = label_contrastive_loss(visual, text, torch.tensor([4, 0, 2, 1, 3]), temperature=0.1)
    assert loss.item() == pytest.approx(clip.item(), rel=1e-5)


def test_contrastive_loss_bad_shapes():
    with pytest.raises(ValueError, match="batch, dim"):
        label_contrastive_loss(torch.zeros(3, 4), torch.zeros(3, 5), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="temperature"):
        label_contrastive_loss(torch.zeros(3, 4), torch.zeros(3, 4), torch.tensor([0, 1, 2]), temperature=0.0)


def test_late_fusion_weights():
    pose = torch.tensor([[1.0, 0.0]])
    lip = torch.tensor([[0.0, 2.0]])
    torch.testing.assert_close(late_fusion(pose, lip), torch.tensor([[0.7, 0.6]]))
    with pytest.raises(ValueError, match="same shape"):
        late_fusion(pose, torch.zeros(1, 3))


def test_label_text_embeddings_mean_over_tokens():
    from transformers import ByT5Tokenizer

    tokenizer = ByT5Tokenizer()
    table = torch.nn.Embedding(384, 4)
    embeddings = build_label_text_embeddings(tokenizer, table, ["hi", "a"])
    ids = tokenizer("hi", add_special_tokens=False)["input_ids"]
    assert len(ids) == 2
    torch.testing.assert_close(embeddings[0], table.weight[ids].mean(dim=0).detach())
    torch.testing.assert_close(embeddings[1], table.weight[tokenizer("a", add_special_tokens=False)["input_ids"][0]].detach())
    with pytest.raises(ValueError, match="no tokens"):
        build_label_text_embeddings(tokenizer, table, [""])
