"""Catalogue: constructing the Keras model, its layers, optimizers and
compile settings with bad and valid-edge values (see catalogue.py); calls
(fit, retrieve, load, the TF wrappers) are in cases_model_calls.py.

Importing this module imports neither TensorFlow nor ydnn: every `run`
builds what it needs (model_fixtures.py).
"""

from tests.robustness.catalogue import Case
from tests.robustness.model_fixtures import _ctor, _input_block, _layer, _new

M = "YoutubeDNNRetrievalModelV2"
BAD_MODEL = [  # (what, kwargs, match)
    ("num_sampled-float", dict(num_sampled=5.5), r"num_sampled must be an integer, got float 5\.5"),
    (
        "num_sampled-integral-float",
        dict(num_sampled=5.0),
        r"num_sampled must be an integer, got float 5\.0",
    ),
    ("num_sampled-bool", dict(num_sampled=True), r"num_sampled must be an integer, got bool True"),
    ("num_sampled-str", dict(num_sampled="10"), r"num_sampled must be an integer, got str '10'"),
    ("num_sampled-zero", dict(num_sampled=0), r"num_sampled must be in \[1, 50\] .*got 0"),
    ("num_sampled-above-range", dict(num_sampled=51), r"num_sampled must be in \[1, 50\] .*got 51"),
    (
        "temperature-zero",
        dict(logits_temperature=0.0),
        r"logits_temperature must be positive and finite, got 0\.0",
    ),
    (
        "temperature-negative",
        dict(logits_temperature=-1),
        r"logits_temperature must be positive and finite, got -1",
    ),
    (
        "temperature-nan",
        dict(logits_temperature=float("nan")),
        r"logits_temperature must be positive and finite, got nan",
    ),
    (
        "temperature-inf",
        dict(logits_temperature=float("inf")),
        r"logits_temperature must be positive and finite, got inf",
    ),
    (
        "temperature-bool",
        dict(logits_temperature=True),
        r"logits_temperature must be a real number, got bool True",
    ),
    (
        "temperature-str",
        dict(logits_temperature="0.1"),
        r"logits_temperature must be a real number, got str '0\.1'",
    ),
    (
        "min_sampled_id-float",
        dict(min_sampled_id=1.0),
        r"min_sampled_id must be an integer, got float 1\.0",
    ),
    (
        "min_sampled_id-negative",
        dict(min_sampled_id=-1),
        r"min_sampled_id must be in \[0, 50\], got -1",
    ),
    (
        "min_sampled_id-above-catalog",
        dict(min_sampled_id=51),
        r"min_sampled_id must be in \[0, 50\], got 51",
    ),
    ("ops-unknown", dict(ops="xla"), r"ops must be one of \('fused', 'stock'\), got 'xla'"),
    ("ops-none", dict(ops=None), r"ops must be one of \('fused', 'stock'\), got None"),
    (
        "embedding_dims-zero",
        dict(embedding_dims={"country": 0}),
        r"embedding_dims\['country'\] must be >= 1, got 0",
    ),
    (
        "embedding_dims-float",
        dict(embedding_dims={"country": 4.5}),
        r"embedding_dims\['country'\] must be an integer, got float 4\.5",
    ),
    (
        "embedding_dims-list",
        dict(embedding_dims=[8]),
        r"embedding_dims must be a dict .*got list \[8\]",
    ),
    (
        "embedding_dims-width-mismatch",
        dict(embedding_dims={"item_id": 16}),
        r"top block outputs 8 values but the item embedding 'item_id' has 16",
    ),
    (
        "table_dtype-float64",
        dict(table_dtype="float64"),
        r"table_dtype must be one of \('float32', 'bfloat16', 'float16'\), got 'float64'",
    ),
    (
        "separate_output_table-str",
        dict(separate_output_table="yes"),
        r"separate_output_table must be True or False, got str 'yes'",
    ),
    (
        "separate_output_table-int",
        dict(separate_output_table=1),
        r"separate_output_table must be True or False, got int 1",
    ),
    (
        "top_block-str",
        dict(top_block="mlp"),
        r"top_block must be a keras.layers.Layer or None, got str 'mlp'",
    ),
    (
        "post-function",
        dict(post=abs),
        r"post must be a keras.layers.Layer or None, got builtin_function_or_method",
    ),
    ("inputs-int", dict(inputs=3), r"inputs must be an InputBlock, a Schema or None, got int"),
    ("outputs-given", dict(outputs="softmax"), r"outputs is not supported"),
    (
        "sampler_seed-negative",
        dict(sampler_seed=-1),
        r"sampler_seed must be in \[0, 2147483646\], got -1",
    ),
    (
        "sampler_seed-float",
        dict(sampler_seed=1.5),
        r"sampler_seed must be an integer, got float 1\.5",
    ),
    (
        "candidate_id_tag-absent",
        dict(candidate_id_tag="user_id"),
        r"exactly one column tagged 'user_id'",
    ),
]
BAD_LAYERS = [  # (entry, factory, kwargs, match)
    (
        "InputBlock/combiner-unknown",
        _input_block,
        dict(combiner="max"),
        r"InputBlock: combiner must be one of \('sum', 'mean', 'sqrtn'\), got 'max'",
    ),
    (
        "InputBlock/ops-unknown",
        _input_block,
        dict(ops="gpu"),
        r"InputBlock: ops must be one of .*got 'gpu'",
    ),
    (
        "InputBlock/padding_id-float",
        _input_block,
        dict(padding_id=0.0),
        r"InputBlock: padding_id must be an integer, got float 0\.0",
    ),
    (
        "InputBlock/embedding_dims-negative",
        _input_block,
        dict(embedding_dims={"item_id": -8}),
        r"InputBlock: embedding_dims\['item_id'\] must be >= 1, got -8",
    ),
    (
        "InputBlock/embedding_dims-bool",
        _input_block,
        dict(embedding_dims={"item_id": True}),
        r"InputBlock: embedding_dims\['item_id'\] must be an integer, got bool True",
    ),
    (
        "InputBlock/schema-str",
        _input_block,
        dict(schema="item_id"),
        r"InputBlock: schema must be a ydnn.Schema, got str",
    ),
    (
        "InputBlock/initializer-unknown",
        _input_block,
        dict(embeddings_initializer="nope"),
        r"Could not interpret initializer identifier: nope",
    ),
    (
        "MLPBlock/dimensions-empty",
        _layer("MLPBlock"),
        dict(dimensions=[]),
        r"MLPBlock: dimensions must be a non-empty list of positive ints, got \[\]",
    ),
    (
        "MLPBlock/dimensions-zero",
        _layer("MLPBlock"),
        dict(dimensions=[8, 0]),
        r"dimensions must be a non-empty list of positive ints, got \[8, 0\]",
    ),
    (
        "MLPBlock/dimensions-float",
        _layer("MLPBlock"),
        dict(dimensions=[8.0]),
        r"dimensions must be a non-empty list of positive ints, got \[8\.0\]",
    ),
    (
        "MLPBlock/dimensions-bool",
        _layer("MLPBlock"),
        dict(dimensions=[True]),
        r"dimensions must be a non-empty list of positive ints, got \[True\]",
    ),
    (
        "MLPBlock/dimensions-str",
        _layer("MLPBlock"),
        dict(dimensions="64"),
        r"dimensions must be a non-empty list of positive ints, got '64'",
    ),
    (
        "MLPBlock/dropout-one",
        _layer("MLPBlock"),
        dict(dimensions=[8], dropout=1.0),
        r"MLPBlock: dropout must be in \[0, 1\), got 1\.0",
    ),
    (
        "MLPBlock/dropout-nan",
        _layer("MLPBlock"),
        dict(dimensions=[8], dropout=float("nan")),
        r"MLPBlock: dropout must be in \[0, 1\), got nan",
    ),
    (
        "MLPBlock/dropout-negative",
        _layer("MLPBlock"),
        dict(dimensions=[8], dropout=-0.1),
        r"MLPBlock: dropout must be in \[0, 1\), got -0\.1",
    ),
    (
        "MLPBlock/dropout-bool",
        _layer("MLPBlock"),
        dict(dimensions=[8], dropout=True),
        r"MLPBlock: dropout must be a real number, got bool True",
    ),
    (
        "MLPBlock/normalization-unknown",
        _layer("MLPBlock"),
        dict(dimensions=[8], normalization="group"),
        r"MLPBlock: normalization must be one of .*got 'group'",
    ),
    (
        "MLPBlock/activation-unknown",
        _layer("MLPBlock"),
        dict(dimensions=[8], activation="nope"),
        r"Could not interpret activation function identifier: nope",
    ),
    (
        "MLPBlock/use_bias-str",
        _layer("MLPBlock"),
        dict(dimensions=[8], use_bias="no"),
        r"MLPBlock: use_bias must be True or False, got str 'no'",
    ),
    (
        "MLPBlock/no_activation_last_layer-int",
        _layer("MLPBlock"),
        dict(dimensions=[8], no_activation_last_layer=1),
        r"MLPBlock: no_activation_last_layer must be True or False, got int 1",
    ),
    (
        "L2Norm/epsilon-zero",
        _layer("L2Norm"),
        dict(epsilon=0),
        r"L2Norm: epsilon must be positive and finite, got 0",
    ),
    (
        "L2Norm/epsilon-nan",
        _layer("L2Norm"),
        dict(epsilon=float("nan")),
        r"L2Norm: epsilon must be positive and finite, got nan",
    ),
    (
        "L2Norm/epsilon-str",
        _layer("L2Norm"),
        dict(epsilon="small"),
        r"L2Norm: epsilon must be a real number, got str 'small'",
    ),
    (
        "PredictLast/column-int",
        _layer("ydnn.transforms.PredictLast"),
        dict(column=3),
        r"PredictLast: column must be a feature name, got 3",
    ),
    (
        "PredictLast/column-empty",
        _layer("ydnn.transforms.PredictLast"),
        dict(column=""),
        r"PredictLast: column must be a feature name, got ''",
    ),
    (
        "PredictLast/padding_id-float",
        _layer("ydnn.transforms.PredictLast"),
        dict(padding_id=0.5),
        r"PredictLast: padding_id must be an integer, got float 0\.5",
    ),
    (
        "PredictRandom/seed-float",
        _layer("ydnn.transforms.PredictRandom"),
        dict(seed=1.5),
        r"PredictRandom: seed must be an integer, got float 1\.5",
    ),
    (
        "LazyAdam/learning_rate-negative",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(learning_rate=-1.0),
        r"LazyAdam: learning_rate must be >= 0 and finite, got -1\.0",
    ),
    (
        "LazyAdam/learning_rate-nan",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(learning_rate=float("nan")),
        r"LazyAdam: learning_rate must be >= 0 and finite, got nan",
    ),
    (
        "LazyAdam/rounding_seed-negative",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(rounding_seed=-1),
        r"LazyAdam: rounding_seed must be >= 0, got -1",
    ),
    (
        "LazyAdam/stochastic_rounding-int",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(stochastic_rounding=1),
        r"LazyAdam: stochastic_rounding must be True or False, got int 1",
    ),
    (
        "LazyAdam/beta_1-one",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(beta_1=1.0),
        r"LazyAdam: beta_1 must be in \[0, 1\), got 1\.0",
    ),
    (
        "LazyAdam/beta_2-negative",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(beta_2=-0.5),
        r"LazyAdam: beta_2 must be in \[0, 1\), got -0\.5",
    ),
    (
        "LazyAdam/epsilon-negative",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(epsilon=-1e-7),
        r"LazyAdam: epsilon must be >= 0 and finite, got -1e-07",
    ),
    (
        "LazyAdam/weight_decay-negative",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(weight_decay=-0.1),
        r"LazyAdam: weight_decay must be >= 0 and finite, got -0\.1",
    ),
    (
        "LazyAdam/amsgrad",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(amsgrad=True),
        r"LazyAdam does not support amsgrad=True",
    ),
    (
        "LazyAdam/use_ema",
        _layer("ydnn.optimizers.LazyAdam"),
        dict(use_ema=True),
        r"LazyAdam does not support use_ema=True",
    ),
    (
        "SparseSGD/momentum",
        _layer("ydnn.optimizers.SparseSGD"),
        dict(momentum=0.9),
        r"SparseSGD supports momentum=0 and nesterov=False only, got momentum=0\.9",
    ),
    (
        "SparseSGD/learning_rate-bool",
        _layer("ydnn.optimizers.SparseSGD"),
        dict(learning_rate=True),
        r"SparseSGD: learning_rate must be a real number, got bool True",
    ),
    (
        "SparseSGD/clipnorm-zero",
        _layer("ydnn.optimizers.SparseSGD"),
        dict(clipnorm=0.0),
        r"SparseSGD: clipnorm must be positive and finite, got 0\.0",
    ),
    (
        "SparseAdagrad/initial_accumulator-negative",
        _layer("ydnn.optimizers.SparseAdagrad"),
        dict(initial_accumulator_value=-0.1),
        r"SparseAdagrad: initial_accumulator_value must be >= 0 and finite, got -0\.1",
    ),
    (
        "RowWiseAdagrad/table_pattern-invalid",
        _layer("ydnn.optimizers.RowWiseAdagrad"),
        dict(table_pattern="("),
        r"table_pattern '\(' is not a valid regular expression",
    ),
    (
        "RowWiseAdagrad/table_pattern-int",
        _layer("ydnn.optimizers.RowWiseAdagrad"),
        dict(table_pattern=3),
        r"RowWiseAdagrad: table_pattern must be a regular expression string, got 3",
    ),
    (
        "RowWiseAdagrad/epsilon-inf",
        _layer("ydnn.optimizers.RowWiseAdagrad"),
        dict(epsilon=float("inf")),
        r"RowWiseAdagrad: epsilon must be >= 0 and finite, got inf",
    ),
    (
        "optimizers.get/unknown-name",
        _layer("ydnn.optimizers.get"),
        dict(identifier="adamax"),
        r"Unknown optimizer 'adamax'",
    ),
    (
        "RecallAtK/k-zero",
        _layer("ydnn.metrics.RecallAtK"),
        dict(k=0),
        r"RecallAtK: k must be an integer >= 1, got 0",
    ),
    (
        "RecallAtK/k-float",
        _layer("ydnn.metrics.RecallAtK"),
        dict(k=2.5),
        r"RecallAtK: k must be an integer >= 1, got 2\.5",
    ),
    (
        "NDCGAtK/k-bool",
        _layer("ydnn.metrics.NDCGAtK"),
        dict(k=True),
        r"NDCGAtK: k must be an integer >= 1, got True",
    ),
]
BAD_COMPILE = [  # (what, kwargs, match)
    ("loss", dict(loss="mse"), r"unsupported compile arguments \['loss'\]"),
    ("jit_compile-true", dict(jit_compile=True), r"jit_compile=True is not supported"),
    ("jit_compile-auto", dict(jit_compile="auto"), r"jit_compile='auto' is not supported"),
    ("top_k-zero", dict(top_k=0), r"top_k must be >= 1, got 0"),
    ("top_k-float", dict(top_k=2.5), r"top_k must be an integer, got float 2\.5"),
    ("optimizer-unknown", dict(optimizer="adamax"), r"Unknown optimizer 'adamax'"),
    (
        "metrics-not-a-list",
        dict(metrics="recall"),
        r"metrics must be a list of keras.metrics.Metric .*got 'recall'",
    ),
    (
        "metrics-names",
        dict(metrics=["recall"]),
        r"metrics must be a list of keras.metrics.Metric .*got \['recall'\]",
    ),
    (
        "exclude_seen-str",
        dict(exclude_seen="yes"),
        r"exclude_seen must be True or False, got str 'yes'",
    ),
    (
        "steps_per_execution-zero",
        dict(steps_per_execution=0),
        r"steps_per_execution must be >= 1, got 0",
    ),
]

CASES = (
    [_ctor(f"{M}/{what}", _new, kw, match) for what, kw, match in BAD_MODEL]
    + [
        Case(
            f"model/{M}/unknown-keyword",
            lambda: _new(foo=1),
            raises=TypeError,
            match=r"unexpected keyword argument 'foo'",
        ),
        Case(
            f"model/{M}/candidate_id_tag-int",
            lambda: _new(candidate_id_tag=3),
            raises=TypeError,
            match=r"a tag must be a string or ydnn.Tags, got 3",
        ),
    ]
    + [_ctor(entry, make, kw, match) for entry, make, kw, match in BAD_LAYERS]
    + [
        Case(
            f"model/compile/{what}",
            (lambda kw=kw: _new().compile(**kw)),
            raises=ValueError,
            match=match,
        )
        for what, kw, match in BAD_COMPILE
    ]
)
