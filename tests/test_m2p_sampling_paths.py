"""The sampler's shortcuts in reference attention (models/m2p/reference.py, ``_read_sampling``) give the general
path's output: the bank's keys/values projected once per bank sample, and masked (unconditional) samples attending
to their own tokens only. Same toy model as test_m2p_modules; the general path is what runs with gradients on."""
import pytest
import torch

from evalkit.models.m2p import reference
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.model import M2PModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: float32 round-off of a different summation order (the split softmax, separate projections); the bank's
#: effect on the output is > 1e-3 (test_m2p_modules), so this tolerance cannot hide a wrong read
ATOL = 2e-5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return M2PModel(get_config("micro")).eval()


@pytest.mark.parametrize("keep", [None, [False, True], [True, False], [False, False]])
def test_sampling_read_path_matches_the_general_path(model, monkeypatch, keep):
    cfg, s = model.cfg, model.cfg.latent_size
    torch.manual_seed(2)
    ref = torch.rand(2, 3, cfg.size, cfg.size) * 2 - 1
    z, guid = torch.randn(2, 4, 3, s, s), torch.randn(2, cfg.guid_channels, 3, s, s) * 0.1
    keep = None if keep is None else torch.tensor(keep)
    calls = []
    fast_read = reference.RefSelfAttnProcessor._read_sampling
    monkeypatch.setattr(reference.RefSelfAttnProcessor, "_read_sampling",
                        lambda self, *a: calls.append(1) or fast_read(self, *a))
    with torch.no_grad():
        ctx = model.reference(ref)
    try:
        model.bank.keep = keep
        with torch.no_grad():
            fast = model.denoise(z, torch.tensor([300]), ctx, guid)
        assert len(calls) == model.pairs  # every reader took the sampling path
        with torch.enable_grad():  # with gradients the readers take the general (masked, training) path
            general = model.denoise(z, torch.tensor([300]), ctx, guid).detach()
        assert len(calls) == model.pairs
    finally:
        model.bank.clear()
    torch.testing.assert_close(fast, general, atol=ATOL, rtol=0)
