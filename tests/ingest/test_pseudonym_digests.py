"""`Pseudonymizer.digests`: the one HMAC per distinct id that pseudonyms are built from."""

import hmac

import pyarrow as pa

from pipeline.ingest.landing.privacy import Privacy, Pseudonymizer, pseudonym

KEY = b"digests-test-key-0123456789"


def test_digests_are_the_raw_hmac_of_each_value_read_from_the_arrow_buffers():
    values = ["u1", "", "ünï", "a\nb", "😀", *[f"user-{i}" for i in range(40)]]
    worker = Pseudonymizer(Privacy(pseudonymize=True, key=KEY))
    whole = pa.array(["skipped", *values], pa.string())
    for batch in (pa.array(values, pa.string()), whole.slice(1), pa.array([], pa.string())):
        out = worker.digests(batch)
        assert out.type == pa.binary(32)
        assert out.to_pylist() == [hmac.new(KEY, v.encode(), "sha256").digest() for v in batch.to_pylist()]
    hexed = worker.pseudonyms(pa.array(values, pa.string())).to_pylist()
    assert hexed == [pseudonym(KEY, v) for v in values]  # the hex pseudonyms are these digests
