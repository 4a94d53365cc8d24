"""Signed tracking URLs: round trips, tampering, key rotation, and whatever a scanner sends."""

from __future__ import annotations

import re

import pytest

from logistics.labels.errors import InvalidItemCode, InvalidSignature
from logistics.labels.signing import SIGNATURE_LENGTH, LabelSigner, parse_tracking_url

OLD_KEY = b"old-label-key-0123456789abcdef"
NEW_KEY = b"new-label-key-fedcba9876543210"
CODE = "EC136431858VN"
OTHER_CODE = "RR473124829GB"
BASE = "https://dvc.buudien.vn"


@pytest.fixture
def signer():
    return LabelSigner([NEW_KEY])


def test_sign_verify_round_trip(signer):
    sig = signer.sign(CODE)
    assert len(sig) == SIGNATURE_LENGTH == 12
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", sig)
    assert signer.verify(CODE, sig)


def test_signature_is_deterministic_and_ignores_how_the_code_was_typed(signer):
    assert signer.sign(CODE) == signer.sign("ec 136 431 858 vn")
    assert signer.verify("EC-136-431-858-VN", signer.sign(CODE))


def test_wrong_signature_is_rejected(signer):
    sig = signer.sign(CODE)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert not signer.verify(CODE, flipped)


def test_signature_does_not_transfer_to_another_code(signer):
    assert not signer.verify(OTHER_CODE, signer.sign(CODE))


def test_truncated_or_extended_signature_is_rejected(signer):
    sig = signer.sign(CODE)
    assert not signer.verify(CODE, sig[:-1])
    assert not signer.verify(CODE, sig[:6])
    assert not signer.verify(CODE, sig + "A")
    assert not signer.verify(CODE, sig + "==")


@pytest.mark.parametrize(
    ("code", "sig"),
    [
        (CODE, ""),
        ("", ""),
        (CODE, None),
        (None, "AAAAAAAAAAAA"),
        (CODE, 123),
        (CODE, b"AAAAAAAAAAAA"),
        (CODE, "é" * 12),
        (CODE, "AAAA AAAAAAA"),
        (CODE, "AAAA+AAA/AAA"),
        (CODE, "\x00" * 12),
        ("not a code", "AAAAAAAAAAAA"),
        ("EC136431850VN", "AAAAAAAAAAAA"),
        (CODE, "\ud800" * 12),
    ],
)
def test_verify_returns_false_on_garbage_and_never_raises(signer, code, sig):
    assert signer.verify(code, sig) is False


def test_key_rotation_new_key_signs_old_key_still_verifies():
    old = LabelSigner([OLD_KEY])
    rotated = LabelSigner([NEW_KEY, OLD_KEY])
    old_sig = old.sign(CODE)
    new_sig = rotated.sign(CODE)
    assert new_sig != old_sig
    assert new_sig == LabelSigner([NEW_KEY]).sign(CODE)
    assert rotated.verify(CODE, old_sig)
    assert rotated.verify(CODE, new_sig)
    # Once the old key is dropped, its labels stop verifying.
    assert not LabelSigner([NEW_KEY]).verify(CODE, old_sig)


def test_different_keys_give_different_signatures():
    assert LabelSigner([OLD_KEY]).sign(CODE) != LabelSigner([NEW_KEY]).sign(CODE)


@pytest.mark.parametrize("keys", [[], [b"short"], ["a str key that is long enough"], [NEW_KEY, b""]])
def test_bad_key_configuration_fails_early(keys):
    with pytest.raises(ValueError, match="key"):
        LabelSigner(keys)


def test_repr_does_not_leak_keys():
    text = repr(LabelSigner([NEW_KEY, OLD_KEY]))
    assert "2 key" in text
    assert NEW_KEY.decode() not in text
    assert OLD_KEY.decode() not in text


def test_sign_rejects_invalid_codes(signer):
    with pytest.raises(InvalidItemCode):
        signer.sign("EC136431850VN")


def test_ensure_valid(signer):
    sig = signer.sign(CODE)
    assert signer.ensure_valid("ec136431858vn", sig) == CODE
    with pytest.raises(InvalidSignature):
        signer.ensure_valid(CODE, None)
    with pytest.raises(InvalidSignature):
        signer.ensure_valid(OTHER_CODE, sig)


def test_tracking_url_is_short_and_canonical(signer):
    url = signer.tracking_url(BASE + "/", "ec 136 431 858 vn")
    assert url == f"{BASE}/t/{CODE}?s={signer.sign(CODE)}"
    assert len(url) == len(BASE) + len("/t/") + 13 + len("?s=") + 12


def test_tracking_url_round_trips_through_parse(signer):
    code, sig = parse_tracking_url(signer.tracking_url(BASE, CODE))
    assert code == CODE
    assert signer.verify(code, sig)


@pytest.mark.parametrize(
    "template",
    [
        "https://dvc.buudien.vn/t/{code}?s={sig}",
        "http://localhost:5000/t/{code}?s={sig}",
        "https://staging.example.org/t/{code}/?s={sig}",
        "HTTPS://DVC.BUUDIEN.VN/t/{code}?s={sig}",
        "dvc.buudien.vn/t/{code}?s={sig}",
        "  https://dvc.buudien.vn/t/{lower}?s={sig}\n",
        "https://dvc.buudien.vn/t/{code}?utm_source=x&s={sig}#top",
        "https://dvc.buudien.vn/prefix/t/{code}?s={sig}",
        "/t/{code}?s={sig}",
    ],
)
def test_parse_accepts_url_variants(signer, template):
    sig = signer.sign(CODE)
    code, parsed_sig = parse_tracking_url(template.format(code=CODE, lower=CODE.lower(), sig=sig))
    assert code == CODE
    assert parsed_sig == sig
    assert signer.verify(code, parsed_sig)


@pytest.mark.parametrize(
    "text",
    [
        "EC136431858VN",
        " ec 136 431 858 vn ",
        "https://dvc.buudien.vn/t/EC136431858VN",
        "https://dvc.buudien.vn/t/EC136431858VN/",
        "https://dvc.buudien.vn/t/EC136431858VN?s=",
        "https://dvc.buudien.vn/t/EC%20136%20431%20858%20VN",
        "EC136431858VN?s",
    ],
)
def test_parse_without_signature_returns_none(text):
    assert parse_tracking_url(text) == (CODE, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "https://dvc.buudien.vn/",
        "https://dvc.buudien.vn/t/",
        "https://dvc.buudien.vn/t/NOTACODE?s=AAAAAAAAAAAA",
        "https://dvc.buudien.vn/t/EC136431850VN?s=AAAAAAAAAAAA",
        "https://dvc.buudien.vn/?s=AAAAAAAAAAAA",
        "javascript:alert(1)",
        "?s=AAAAAAAAAAAA",
        "\x00\x01\x02",
    ],
)
def test_parse_rejects_junk_with_invalid_item_code(text):
    with pytest.raises(InvalidItemCode):
        parse_tracking_url(text)


def test_parse_rejects_non_text():
    with pytest.raises(InvalidItemCode):
        parse_tracking_url(None)  # type: ignore[arg-type]


def test_parse_returns_a_tampered_signature_for_verify_to_reject(signer):
    code, sig = parse_tracking_url(f"{BASE}/t/{CODE}?s=<script>")
    assert code == CODE
    assert sig == "<script>"
    assert not signer.verify(code, sig)
