"""Notebook 10: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "10_transfer_learning" / "10_transfer_learning.ipynb"

MISTAKES = [
    ("test_count_trainable", "counts frozen parameters too",
     solution_with(NB, "count_trainable", " if p.requires_grad)", ")"), "counted the frozen parameters too"),
    ("test_count_trainable", "counts tensors, not elements",
     solution_with(NB, "count_trainable", "sum(p.numel() for p", "sum(1 for p"), "counted parameter tensors"),
    ("test_count_trainable", "counts frozen parameters instead of trainable ones",
     solution_with(NB, "count_trainable", "if p.requires_grad", "if not p.requires_grad"), "instead of the trainable ones"),
    ("test_count_trainable", "loops over model.modules() and counts nested parameters again", """
def count_trainable(model):
    return sum(p.numel() for m in model.modules() for p in m.parameters() if p.requires_grad)
""", "more than once"),
    ("test_count_trainable", "returns a float", """
def count_trainable(model):
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))
""", "expected an int"),
    ("test_count_trainable", "counts a layer used twice twice", """
def count_trainable(model):
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)
""", "twice"),
    ("test_count_trainable", "freezes the caller's model and returns 0", """
def count_trainable(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
""", "changed the model"),
    ("test_freeze_backbone", "freezes the new head too (every parameter)", """
def freeze_backbone(model, head_name="fc"):
    for p in model.parameters():
        p.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model
""", "froze the head too"),
    ("test_freeze_backbone", "leaves BatchNorm statistics updating (requires_grad only)",
     solution_with(NB, "freeze_backbone", "            m.eval()", "            pass"), "in training mode"),
    ("test_freeze_backbone", "puts the whole model in eval mode", """
def freeze_backbone(model, head_name="fc"):
    head_params = {id(p) for p in model.get_submodule(head_name).parameters()}
    for p in model.parameters():
        if id(p) not in head_params:
            p.requires_grad_(False)
    model.eval()
    return model
""", "whole model in eval mode"),
    ("test_freeze_backbone", "only BatchNorm2d goes to eval, not BatchNorm1d",
     solution_with(NB, "freeze_backbone", "nn.modules.batchnorm._BatchNorm", "nn.BatchNorm2d"), "BatchNorm1d"),
    ("test_freeze_backbone", "matches the head with a bare startswith(head_name)", """
def freeze_backbone(model, head_name="fc"):
    for name, p in model.named_parameters():
        if not name.startswith(head_name):
            p.requires_grad_(False)
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith(head_name):
            m.eval()
    return model
""", "starts with 'fc'"),
    ("test_freeze_backbone", "hard-codes model.features as the backbone", """
def freeze_backbone(model, head_name="fc"):
    for p in model.features.parameters():
        p.requires_grad_(False)
    for m in model.features.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model
""", None),
    ("test_freeze_backbone", "puts the head's BatchNorm in eval too",
     solution_with(NB, "freeze_backbone", " and id(m) not in head_modules", ""), "part of the head"),
    ("test_freeze_backbone", "forgets to return the model",
     solution_with(NB, "freeze_backbone", "    return model\n", ""), "returned None"),
    ("test_freeze_backbone", "freezes a copy and returns it", """
def freeze_backbone(model, head_name="fc"):
    model = copy.deepcopy(model)
    head = model.get_submodule(head_name)
    head_params = {id(p) for p in head.parameters()}
    head_modules = {id(m) for m in head.modules()}
    for p in model.parameters():
        if id(p) not in head_params:
            p.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in head_modules:
            m.eval()
    return model
""", "in place (no copy.deepcopy)"),
    ("test_replace_head", "new head with the old head's out_features as in_features",
     solution_with(NB, "replace_head", "nn.Linear(old.in_features,", "nn.Linear(old.out_features,"), "in_features"),
    ("test_replace_head", "only changes the out_features attribute", """
def replace_head(model, num_classes, head_name="fc"):
    model.get_submodule(head_name).out_features = num_classes
    return model
""", "does not resize the weight"),
    ("test_replace_head", "one output too many",
     solution_with(NB, "replace_head", "num_classes, bias=", "num_classes + 1, bias="), "out_features"),
    ("test_replace_head", "the new head copies the old head's (frozen) requires_grad", """
def replace_head(model, num_classes, head_name="fc"):
    old = model.get_submodule(head_name)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)
    new.requires_grad_(old.weight.requires_grad)
    parent_name, _, child_name = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child_name, new)
    return model
""", "new head is frozen"),
    ("test_replace_head", "setattr(model, head_name, ...) breaks dotted head names", """
def replace_head(model, num_classes, head_name="fc"):
    old = model.get_submodule(head_name)
    setattr(model, head_name, nn.Linear(old.in_features, num_classes, bias=old.bias is not None, dtype=old.weight.dtype))
    return model
""", None),
    ("test_replace_head", "always adds a bias",
     solution_with(NB, "replace_head", "bias=old.bias is not None", "bias=True"), "bias"),
    ("test_replace_head", "returns the new layer, not the model",
     solution_with(NB, "replace_head", "    return model\n", "    return new\n"), "returned the new Linear layer"),
    ("test_replace_head", "replaces the head of a copy", """
def replace_head(model, num_classes, head_name="fc"):
    model = copy.deepcopy(model)
    old = model.get_submodule(head_name)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)
    parent_name, _, child_name = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child_name, new)
    return model
""", "in place (no copy.deepcopy)"),
    ("test_replace_head", "the new head is float32 on a float64 model",
     solution_with(NB, "replace_head", ",\n                    device=old.weight.device, dtype=old.weight.dtype)", ")"), "dtype"),
    ("test_param_groups", "swaps the learning rates",
     solution_with(NB, "param_groups", '"lr": lr * backbone_factor})', '"lr": lr})').replace('"head", "params": head, "lr": lr}', '"head", "params": head, "lr": lr * backbone_factor}'),
     "swapped the learning rates"),
    ("test_param_groups", "divides by backbone_factor",
     solution_with(NB, "param_groups", "lr * backbone_factor", "lr / backbone_factor"), "divided by backbone_factor"),
    ("test_param_groups", "ignores backbone_factor (always 0.1)",
     solution_with(NB, "param_groups", "lr * backbone_factor", "lr * 0.1"), "ignored the argument backbone_factor"),
    ("test_param_groups", "lists the head twice (backbone = every parameter)", """
def param_groups(model, lr, backbone_factor=0.1, head_name="fc"):
    head = [p for p in model.get_submodule(head_name).parameters() if p.requires_grad]
    backbone = [p for p in model.parameters() if p.requires_grad]
    return [{"name": "backbone", "params": backbone, "lr": lr * backbone_factor}, {"name": "head", "params": head, "lr": lr}]
""", "appears more than once"),
    ("test_param_groups", "lists frozen parameters too",
     solution_with(NB, "param_groups", "        if p.requires_grad:\n", "        if True:\n"), "frozen parameter"),
    ("test_param_groups", "keeps an empty group",
     solution_with(NB, "param_groups", "    if backbone:\n", "    if True:\n"), "is empty"),
    ("test_param_groups", "returns copies of the parameters",
     solution_with(NB, "param_groups", "(head if id(p) in head_ids else backbone).append(p)",
                   "(head if id(p) in head_ids else backbone).append(p.detach().clone().requires_grad_())"), "holds a copy"),
    ("test_param_groups", "ignores head_name (always model.fc)",
     solution_with(NB, "param_groups", "model.get_submodule(head_name)", "model.fc"), "get_submodule(head_name)"),
    # count_changed (predict)
    ("test_count_changed", "only parameters change: forgets BatchNorm's running statistics",
     solution_with(NB, "count_changed", "weights + 4 * features + head", "weights + 2 * features + head")
     .replace("return head + 2 * features", "return head"), "only half of BatchNorm's numbers"),
    ("test_count_changed", "forgets gamma and beta (only the running statistics of BatchNorm move)",
     solution_with(NB, "count_changed", "weights + 4 * features + head", "weights + 2 * features + head"), "only half of BatchNorm's numbers"),
    ("test_count_changed", "feature extraction: counts running statistics that eval mode keeps still",
     solution_with(NB, "count_changed", """    if method == "feature extraction":
        return head
""", """    if method == "feature extraction":
        return head + 2 * features
"""), "eval mode"),
    ("test_count_changed", "requires_grad only: forgets that the running statistics still move",
     solution_with(NB, "count_changed", "return head + 2 * features", "return head"), "stay in training mode"),
    ("test_count_changed", "fine-tuning counted like feature extraction",
     solution_with(NB, "count_changed", 'if method == "feature extraction":', 'if method in ("feature extraction", "fine-tuning"):'),
     "fine-tuning trains every parameter"),
    ("test_count_changed", "counts num_batches_tracked",
     solution_with(NB, "count_changed", "weights + 4 * features + head", "weights + 4 * features + head + len(widths) - 1")
     .replace("return head + 2 * features", "return head + 2 * features + len(widths) - 1"), "num_batches_tracked"),
    ("test_count_changed", "gives the backbone's linear layers a bias",
     solution_with(NB, "count_changed", "weights + 4 * features + head", "weights + 5 * features + head"), "have no bias"),
    ("test_count_changed", "forgets the head's bias",
     solution_with(NB, "count_changed", "head = widths[-1] * num_classes + num_classes", "head = widths[-1] * num_classes"), "head has a bias"),
    ("test_count_changed", "counts a linear layer's inputs plus outputs, not their product",
     solution_with(NB, "count_changed", "sum(a * b for a, b", "sum(a + b for a, b"), None),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
