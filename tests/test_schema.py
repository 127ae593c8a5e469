"""Tags, ColumnSchema and Schema: construction, selection, errors, JSON round trip."""

import json

import pytest

from ydnn import ColumnSchema, Schema, Tags
from ydnn.schema import IntDomain


def item_col(**kw):
    args = dict(
        dtype="int32",
        tags=[Tags.ITEM_ID, Tags.CATEGORICAL, Tags.SEQUENCE, Tags.LIST],
        is_list=True,
        int_domain=(0, 100),
        properties={"embedding_dim": 16},
    )
    args.update(kw)
    return ColumnSchema("item_id", **args)


def make_schema():
    return Schema(
        [
            item_col(),
            ColumnSchema("user_id", "int64", ["user_id", "categorical"], int_domain=(1, 50)),
            ColumnSchema("user_age", "float32", [Tags.USER, Tags.CONTINUOUS]),
            ColumnSchema(
                "target",
                "int32",
                [Tags.TARGET, Tags.ITEM, Tags.CATEGORICAL],
                int_domain=IntDomain(0, 100, "item_id"),
            ),
        ]
    )


def test_tags_are_strings_and_compound_tags_expand():
    assert Tags("item_id") is Tags.ITEM_ID and Tags.ITEM_ID == "item_id"
    assert str(Tags.CATEGORICAL) == "categorical"
    col = ColumnSchema("s", "int64", ["session_id", "groupby_col"])
    assert col.tags == (Tags.SESSION_ID, Tags.SESSION, Tags.ID, "groupby_col")
    assert col.has_tag("session") and col.has_tag(Tags.ID) and col.has_tag("groupby_col")
    assert not col.has_tag(Tags.ITEM)


def test_column_properties_and_vocabulary():
    col = item_col()
    assert col.vocabulary_size == 101
    assert col.embedding_dim == 16
    assert col.table_name == "item_id"
    assert col.is_categorical and not col.is_continuous
    assert make_schema()["target"].table_name == "item_id"
    merlin = ColumnSchema(
        "x",
        "int64",
        ["categorical"],
        int_domain=(0, 9),
        properties={"embedding_sizes": {"cardinality": 10, "dimension": 8}},
    )
    assert merlin.embedding_dim == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name=""), "non-empty string"),
        (dict(dtype="notatype"), "unknown dtype"),
        (dict(tags=["categorical", "continuous"]), "cannot be combined"),
        (dict(dtype="float32"), "categorical ids must be integers"),
        (dict(is_list=False, is_ragged=True), "needs is_list=True"),
        (dict(int_domain=(5, 2)), "max"),
        (dict(int_domain=(-1, 2)), "min must be >= 0"),
        (dict(int_domain=(0, 2.5)), "must be an integer"),
        (dict(int_domain="0..5"), "int_domain must be"),
    ],
)
def test_column_errors_name_the_column_and_problem(kwargs, message):
    args = dict(
        name="item_id", dtype="int32", tags=[Tags.ITEM_ID, Tags.CATEGORICAL], int_domain=(0, 10)
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ColumnSchema(**args)


def test_categorical_without_domain_has_no_vocabulary_size():
    col = ColumnSchema("item_id", "int64", [Tags.ITEM_ID, Tags.CATEGORICAL])
    with pytest.raises(ValueError, match="'item_id' is tagged categorical but has no int_domain"):
        _ = col.vocabulary_size
    with pytest.raises(ValueError, match="'plain' has no int_domain"):
        _ = ColumnSchema("plain", "int64").vocabulary_size


def test_column_is_immutable_and_copies():
    col = item_col()
    with pytest.raises(AttributeError):
        col.name = "x"
    with pytest.raises(TypeError):
        col.properties["embedding_dim"] = 3
    assert col.with_properties(embedding_dim=32).embedding_dim == 32 and col.embedding_dim == 16
    assert col.with_tags("context").has_tag(Tags.CONTEXT)
    assert not col.without_tags([Tags.SEQUENCE]).has_tag(Tags.SEQUENCE)
    assert col.with_name("h").name == "h"


def test_select_by_tag_any_of_and_remove():
    s = make_schema()
    assert s.select_by_tag(Tags.ITEM_ID).column_names == ["item_id"]
    assert s.select_by_tag("item").column_names == ["item_id", "target"]
    assert s.select_by_tag(Tags.CONTINUOUS, Tags.TARGET).column_names == ["user_age", "target"]
    assert s.select_by_tag([Tags.CONTINUOUS, Tags.TARGET]).column_names == ["user_age", "target"]
    assert s.remove_by_tag(Tags.TARGET).column_names == ["item_id", "user_id", "user_age"]
    assert len(s.select_by_tag(Tags.EMBEDDING)) == 0


def test_select_by_name_excluding_and_indexing():
    s = make_schema()
    assert s.select_by_name("user_age", "item_id").column_names == ["user_age", "item_id"]
    assert s.select_by_name(["user_id"]).column_names == ["user_id"]
    assert s.excluding("target", "user_age").column_names == ["item_id", "user_id"]
    assert s.excluding_by_name(["target"]).column_names == ["item_id", "user_id", "user_age"]
    assert s["user_id"].vocabulary_size == 51 and s[0].name == "item_id" and s[-1].name == "target"
    assert s[["target"]].column_names == ["target"]
    assert "user_age" in s and "nope" not in s
    assert [c.name for c in s] == s.column_names and len(s) == 4
    with pytest.raises(KeyError, match="nope"):
        _ = s["nope"]
    with pytest.raises(KeyError, match="nope"):
        s.select_by_name("nope")
    with pytest.raises(KeyError, match="cannot exclude"):
        s.excluding("nope")
    with pytest.raises(IndexError):
        _ = s[4]


def test_first_only_and_column_by_tag_errors():
    s = make_schema()
    assert s.first.name == "item_id"
    assert s.column_by_tag(Tags.ITEM_ID).name == "item_id"
    assert s.select_by_tag(Tags.USER_ID).only().name == "user_id"
    with pytest.raises(ValueError, match="empty"):
        _ = Schema().first
    with pytest.raises(
        ValueError, match=r"exactly one item column, found 2: \['item_id', 'target'\]"
    ):
        s.select_by_tag(Tags.ITEM).only("item column")
    with pytest.raises(ValueError, match="no column is tagged 'session_id'.*item_id \\[item_id"):
        s.column_by_tag(Tags.SESSION_ID)
    with pytest.raises(ValueError, match="several columns are tagged 'categorical'"):
        s.column_by_tag(Tags.CATEGORICAL)


def test_schema_rejects_duplicates_and_non_columns():
    with pytest.raises(ValueError, match="duplicate column name 'item_id'"):
        Schema([item_col(), item_col()])
    with pytest.raises(TypeError):
        Schema(["item_id"])
    with pytest.raises(ValueError, match="duplicate"):
        make_schema() + Schema([item_col()])


def test_add_and_with_column():
    s = make_schema().select_by_name("item_id") + make_schema().select_by_name("user_age")
    assert s.column_names == ["item_id", "user_age"]
    s2 = s.with_column(item_col(int_domain=(0, 7)))
    assert s2["item_id"].vocabulary_size == 8 and s["item_id"].vocabulary_size == 101


def test_json_round_trip(tmp_path):
    s = make_schema()
    text = s.to_json()
    assert json.loads(text)["columns"][0]["tags"][:4] == ["item_id", "item", "id", "categorical"]
    assert Schema.from_json(text) == s
    path = s.write(tmp_path)
    assert path.endswith("schema.json")
    back = Schema.read(tmp_path)
    assert back == s and list(back) == list(s)
    assert back["target"].int_domain == IntDomain(0, 100, "item_id")
    assert dict(back["item_id"].properties) == {"embedding_dim": 16}
    assert Schema.from_dict(Schema([]).to_dict()) == Schema([])


def test_json_errors(tmp_path):
    with pytest.raises(ValueError, match="does not parse"):
        Schema.from_json("{not json")
    with pytest.raises(ValueError, match="not a schema"):
        Schema.from_dict({"cols": []})
    with pytest.raises(ValueError, match="newer"):
        Schema.from_dict({"columns": [], "version": 99})
    with pytest.raises(ValueError, match="unknown keys"):
        Schema.from_dict({"columns": [{"name": "a", "colour": 1}]})
    with pytest.raises(FileNotFoundError, match="no schema.pbtxt or schema.json"):
        Schema.read(tmp_path)


def test_schema_modules_import_without_a_circle():
    """The schema package's modules form an import DAG (a reader never
    imports `Schema`; `Schema` imports its readers), checked on the source."""
    import ast
    import pathlib

    package = pathlib.Path(__file__).resolve().parent.parent / "ydnn" / "schema"
    graph = {}
    for path in package.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("ydnn.schema."):
                    imported.add(node.module.split(".")[2])
                elif node.module == "ydnn.schema":
                    imported.update(a.name for a in node.names)
        graph[path.stem] = imported & {p.stem for p in package.glob("*.py")} - {"__init__"}
    graph.pop("__init__")
    done, active = set(), []

    def visit(module):
        assert module not in active, f"import circle: {' -> '.join(active + [module])}"
        if module in done:
            return
        active.append(module)
        for other in graph[module]:
            visit(other)
        active.pop()
        done.add(module)

    for module in graph:
        visit(module)
    assert "schema" not in graph["tfmd"] and "tfmd" in graph["schema"]


def test_with_int_domain_returns_a_copy_with_the_domain():
    col = ColumnSchema("item_id", "int64", [Tags.ITEM_ID])
    wider = col.with_int_domain((0, 99))
    assert wider.vocabulary_size == 100 and col.int_domain is None
    with pytest.raises(ValueError, match="bad int_domain"):
        col.with_int_domain((5, 1))
