import pytest
import torch
from ldm_plugin_conditioners.params import ClassEmbedParams

from ldmcore.errors import DataError
from ldmcore.ports import Context, Latent, Vector


def test_ports_per_wiring():
    p = ClassEmbedParams(num_classes=5, dim=16)
    assert p.output_port("crossattn", Latent(4, 4)) == Context(1, 16)
    assert p.output_port("vector", Latent(4, 4)) == Vector(16)
    with pytest.raises(ValueError, match="cannot be wired 'concat'"):
        p.output_port("concat", Latent(4, 4))


@pytest.mark.parametrize("wiring,shape", [("crossattn", (3, 1, 16)), ("vector", (3, 16))])
def test_output_matches_port(make, wiring, shape):
    m, port = make("class_embed", wiring=wiring, num_classes=5, dim=16)
    out = m(torch.tensor([0, 4, 2]))
    assert out.shape == shape
    assert out.shape[-1] == port.dim
    assert not torch.equal(out[0], out[1])


def test_null_class_is_an_extra_learned_index(make):
    m, _ = make("class_embed", num_classes=5, dim=8, null="empty-input")
    null = m.empty_input(2)
    assert null.tolist() == [5, 5]
    assert torch.equal(m(null)[0, 0], m.embedding.weight[5])
    assert m.embedding.num_embeddings == 6


def test_bad_ids_name_the_key(make):
    m, _ = make("class_embed", input="class", num_classes=5, dim=8, null_class=False)
    with pytest.raises(DataError, match="'class'.*\\[0, 4\\]"):
        m(torch.tensor([0, 5]))
    with pytest.raises(DataError, match="'class'.*1-d integer"):
        m(torch.zeros(2, 2))
    with pytest.raises(DataError, match="no null class"):
        m.empty_input(2)
