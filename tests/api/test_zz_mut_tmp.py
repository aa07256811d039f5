import pytest
from reviews.api import samples, similarity
from reviews.selectors.blinding import Blinding
from tests.api.test_api_blind_audit import _walk, _leaks, an_export, fast_api  # noqa
from tests.reviews.test_blind_audit import blind_audit, fay  # noqa
pytestmark = pytest.mark.django_db

def _run(project, expert, blind_audit, api_for):
    held = {s.pk for s in blind_audit["held"]}
    answers = _walk(api_for(expert), project, blind_audit, expert)
    return sorted({p for a in answers for p in _leaks(a, held)})

def test_mut_origin(project, expert, blind_audit, api_for, fast_api, monkeypatch):
    orig = samples.sample_item
    monkeypatch.setattr(samples, "sample_item", lambda s, b, novelty: orig(s, b, novelty=novelty) | {"origin": s.origin})
    p = _run(project, expert, blind_audit, api_for); print(len(p), p[:3]); assert p

def test_mut_filter(project, expert, blind_audit, api_for, fast_api, monkeypatch):
    monkeypatch.setattr(Blinding, "filtered", lambda self, qs, f: qs)
    p = _run(project, expert, blind_audit, api_for); print(len(p), p[:3]); assert p

def test_mut_run_name(project, expert, blind_audit, api_for, fast_api, monkeypatch):
    orig = similarity._member_out
    def leaky(card, index):
        out = orig(card, index); out.note = card.members[index].sample.run.name if card.members[index].sample.run else ""; return out
    monkeypatch.setattr(similarity, "_member_out", leaky)
    p = _run(project, expert, blind_audit, api_for); print(len(p), p[:3]); assert p
