import pytest

from kubeling.api.errors import StatusError
from kubeling.apiserver.negotiation import Shape, decode_body, negotiate


@pytest.mark.parametrize(
    ("accept", "media", "shape"),
    [
        (None, "application/json", Shape.OBJECT),
        ("application/json", "application/json", Shape.OBJECT),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "application/json", Shape.TABLE),
        ("application/vnd.kubernetes.protobuf,application/json", "application/json", Shape.OBJECT),
        (
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
            "application/json",
            Shape.METADATA_LIST,
        ),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            "application/json",
            Shape.DISCOVERY_V2,
        ),
        ("application/json;as=Unknown;v=v1;g=meta.k8s.io,application/json", "application/json", Shape.OBJECT),
        ("application/yaml", "application/yaml", Shape.OBJECT),
        ("*/*", "application/json", Shape.OBJECT),
    ],
    ids=[
        "none",
        "json",
        "table",
        "protobuf-first",
        "metadata",
        "discovery-v2",
        "unknown-shape",
        "yaml",
        "any",
    ],
)
def test_negotiate(accept, media, shape):
    target = negotiate(accept)
    assert (target.media_type, target.shape) == (media, shape)


def test_only_protobuf_is_not_acceptable():
    with pytest.raises(StatusError) as info:
        negotiate("application/vnd.kubernetes.protobuf")
    assert info.value.code == 406


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [
        (b"{not json", "application/json", 400),
        (b"a: [", "application/yaml", 400),
        (b"", "application/json", 400),
        (b"{}", "application/x-unknown", 415),
    ],
    ids=["bad-json", "bad-yaml", "empty", "unknown-type"],
)
def test_decode_errors(raw, content_type, code):
    with pytest.raises(StatusError) as info:
        decode_body(raw, content_type)
    assert info.value.code == code


def test_yaml_dates_become_strings():
    assert decode_body(b"a: 2024-01-01\nb: [1, x]", "application/yaml") == {"a": "2024-01-01", "b": [1, "x"]}
