"""Reading Merlin / TensorFlow Metadata schemas: schema.pbtxt and schema.json.

tests/data/merlin_schema.pbtxt has extra_metadata Structs serialized by
protobuf's own encoder (google.protobuf, shipped with TensorFlow), so these
tests check our dependency-free decoder against the reference encoding.
"""

import os

import pytest

from ydnn import Schema, Tags
from ydnn.schema import IntDomain, textproto, tfmd

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_pbtxt_fixture_reads_like_merlin():
    s = Schema.read(os.path.join(DATA, "merlin_schema.pbtxt"))
    assert s.column_names == [
        "user_id",
        "item_id_seq",
        "genres",
        "recent_items",
        "session_id",
        "user_age",
        "rating",
    ]
    user = s["user_id"]
    # int_domain without min reads as 0 (proto default); is_categorical adds the tag.
    assert user.int_domain == IntDomain(0, 6040) and user.vocabulary_size == 6041
    assert user.dtype == "int32"  # dtype_item_size 32 in the Struct
    assert not user.is_list and user.has_tag(Tags.USER_ID, Tags.CATEGORICAL)
    assert user.embedding_dim == 210
    assert user.properties["cat_path"] == ".//categories/unique.user_id.parquet"
    assert user.properties["num_buckets"] is None  # a Struct null survives

    seq = s.column_by_tag(Tags.ITEM_ID)
    assert seq.name == "item_id_seq"
    assert seq.int_domain == IntDomain(1, 3706, "item_id") and seq.table_name == "item_id"
    assert seq.is_list and seq.is_ragged and seq.value_count == (1, 20)
    assert seq.dtype == "int64" and seq.embedding_dim == 64
    assert set(seq.tags) >= {
        Tags.ITEM_ID,
        Tags.ITEM,
        Tags.ID,
        Tags.LIST,
        Tags.SEQUENCE,
        Tags.CATEGORICAL,
    }

    assert s["genres"].is_list and s["genres"].is_ragged  # value_count {min: 1}
    fixed = s["recent_items"]  # shape { dim { size: 5 } }
    assert fixed.is_list and not fixed.is_ragged and fixed.value_count == (5, 5)
    sess = s["session_id"]  # no `type`: an id column
    assert sess.dtype == "int64" and "groupby_col" in sess.tags and sess.int_domain is None
    age = s["user_age"]
    assert age.dtype == "float32" and age.is_continuous
    assert age.properties["float_domain"] == {"min": -1.5, "max": 2.25}
    assert s.select_by_tag(Tags.TARGET).column_names == ["rating"]
    assert s.remove_by_tag(Tags.TARGET, Tags.CONTINUOUS).column_names[:2] == [
        "user_id",
        "item_id_seq",
    ]


def test_json_fixture_reads_like_merlin(tmp_path):
    s = Schema.read(os.path.join(DATA, "merlin_schema.json"))
    assert s.column_names == [
        "test_user_id",
        "item_id_seq",
        "categories",
        "item_age_days_norm",
        "user_age",
    ]
    item = s.column_by_tag("item_id")
    assert item.int_domain == IntDomain(1, 100) and item.vocabulary_size == 101
    assert item.is_list and item.is_ragged and item.value_count == (1, 4)
    cats = s["categories"]  # canonical-JSON extra metadata with a Struct value
    assert cats.is_list and not cats.is_ragged and cats.dtype == "int32"
    assert cats.embedding_dim == 16
    assert s["item_age_days_norm"].is_list and s["item_age_days_norm"].is_continuous
    # ydnn's own JSON keeps everything.
    s.write(tmp_path / "mine.json")
    assert Schema.read(tmp_path / "mine.json") == s


def test_directory_read_prefers_pbtxt(tmp_path):
    with open(os.path.join(DATA, "merlin_schema.pbtxt")) as f:
        text = f.read()
    (tmp_path / "schema.pbtxt").write_text(text)
    assert Schema.read(tmp_path).column_names[0] == "user_id"


def test_textproto_syntax_variants():
    tree = textproto.parse("""
        # comment
        a: 1 b: -2.5e1, c: "x\\101\\x42\\n" 'y' d { e: true f: ENUM_V } d: < e: false >;
        g: [1, 2]  h: 0x10 i: 1.5f
    """)
    assert tree["a"] == [1] and tree["b"] == [-25.0]
    assert tree["c"] == [b"xAB\ny"]  # escapes and adjacent literals
    assert tree["d"] == [{"e": [True], "f": ["ENUM_V"]}, {"e": [False]}]
    assert tree["g"] == [1, 2] and tree["h"] == [16] and tree["i"] == [1.5]


@pytest.mark.parametrize(
    "text, message",
    [
        ('feature { name: "a"', "missing closing"),
        ("feature { name: @ }", ":1: cannot parse"),
        ("feature {\n  name:\n}", ":3: expected a value"),
        ("feature { 5 }", "expected a field name"),
    ],
)
def test_textproto_errors_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        tfmd.columns_from_pbtxt(text, source="s.pbtxt")


def test_struct_decoder_matches_protobuf():
    struct_pb2 = pytest.importorskip("google.protobuf.struct_pb2")
    msg = struct_pb2.Struct()
    msg.update(
        {
            "n": 3.0,
            "s": "hé",
            "b": True,
            "z": None,
            "l": [1.0, "a", [2.0]],
            "nested": {"x": -0.5, "deep": {"y": 1e300}},
        }
    )
    assert textproto.decode_struct(msg.SerializeToString()) == {
        "n": 3.0,
        "s": "hé",
        "b": True,
        "z": None,
        "l": [1.0, "a", [2.0]],
        "nested": {"x": -0.5, "deep": {"y": 1e300}},
    }
    with pytest.raises(ValueError, match="truncated"):
        textproto.decode_struct(msg.SerializeToString()[:-3])


def test_merlin_errors_name_the_feature():
    with pytest.raises(ValueError, match="not a TensorFlow Metadata schema"):
        tfmd.columns_from_pbtxt('column { name: "a" }')
    with pytest.raises(ValueError, match="feature 'x'.*bad int_domain"):
        tfmd.columns_from_pbtxt('feature { name: "x" type: INT int_domain { min: 5 max: 1 } }')
    with pytest.raises(ValueError, match="feature 'x'.*unsupported type"):
        tfmd.columns_from_pbtxt('feature { name: "x" type: STRUCT }')
    with pytest.raises(ValueError, match="has no name"):
        tfmd.columns_from_pbtxt("feature { type: INT }")
    with pytest.raises(ValueError, match="feature 'x'.*cannot be combined"):
        tfmd.columns_from_pbtxt(
            'feature { name: "x" type: INT int_domain { max: 3 '
            'is_categorical: true } annotation { tag: "continuous" } }'
        )


def test_json_with_base64_struct_as_merlin_model_save_writes():
    # Merlin's Model.save writes betterproto JSON: Any as {"typeUrl", "value": base64}.
    import base64
    import json

    struct_pb2 = pytest.importorskip("google.protobuf.struct_pb2")
    meta = struct_pb2.Struct()
    meta.update({"is_list": True, "is_ragged": True, "dtype_item_size": 32.0})
    doc = {
        "feature": [
            {
                "name": "item_id_seq",
                "type": "INT",
                "valueCount": {"min": "1", "max": "20"},
                "intDomain": {"name": "item_id", "min": "0", "max": "9724", "isCategorical": True},
                "annotation": {
                    "tag": ["item_id", "sequence"],
                    "extraMetadata": [
                        {
                            "typeUrl": "type.googleapis.com/google.protobuf.Struct",
                            "value": base64.b64encode(meta.SerializeToString()).decode(),
                        }
                    ],
                },
            }
        ]
    }
    col = Schema.from_json(json.dumps(doc)).only()
    assert col.dtype == "int32" and col.is_list and col.is_ragged
    assert col.vocabulary_size == 9725 and col.table_name == "item_id"
    assert col.has_tag(Tags.CATEGORICAL) and col.value_count == (1, 20)


def test_atomic_tags_match_compound_tags():
    """Merlin 23.x writes `item` + `id`, never `item_id`: the compound tag
    matches a column carrying all of its atoms, and only such a column."""
    s = Schema.read(os.path.join(DATA, "merlin23_sequence_schema.json"))
    assert s.select_by_tag(Tags.ITEM_ID).column_names == ["item_id_seq"]
    assert s.select_by_tag("user_id").column_names == ["test_user_id"]
    assert s.column_by_tag(Tags.ITEM_ID).name == "item_id_seq"
    assert not s["categories"].has_tag(Tags.ITEM_ID)  # item alone is not the item id
    assert not s["user_country"].has_tag(Tags.USER_ID)  # user alone is not the user id
    assert s["categories"].has_tag(Tags.ITEM)
    assert s.remove_by_tag(Tags.ITEM_ID).column_names == [
        "test_user_id",
        "categories",
        "user_country",
        "user_age",
    ]
    seq = s["item_id_seq"]
    assert seq.is_list and seq.is_ragged and seq.value_count == (1, 4)
    assert seq.int_domain == IntDomain(1, 100) and seq.dtype == "int64"
    assert s["user_age"].is_continuous


def test_model_builds_from_a_merlin23_schema():
    """The first line a Merlin user runs: the model on the schema as Merlin wrote it."""
    import ydnn

    s = Schema.read(os.path.join(DATA, "merlin23_sequence_schema.json"))
    model = ydnn.YoutubeDNNRetrievalModelV2(
        schema=s.select_by_name(["item_id_seq", "categories"]),
        top_block=ydnn.MLPBlock([8]),
        num_sampled=20,
    )
    assert model.max_id == 100 and model.candidate.name == "item_id_seq"
