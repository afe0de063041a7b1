"""Random bytes and random JSON never crash a decoder: they are refused with a ValidationError."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from medialab_contracts import billing, jobs, llm
from medialab_contracts.events import parse_job_event
from pydantic import BaseModel, ValidationError

MODELS: list[type[BaseModel]] = [
    jobs.JobRequest,
    billing.EnsureUserRequest,
    billing.ReserveRequest,
    billing.SettleRequest,
    billing.ReleaseRequest,
    billing.BalanceRequest,
    billing.HistoryRequest,
    billing.TopupRequest,
    billing.OperationRequest,
    llm.FalLlmRequest,
    llm.WritePromptRequest,
    llm.TranslateRequest,
    llm.ParseStyleRequest,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=512))
def test_random_bytes_are_refused_by_every_decoder(data: bytes) -> None:
    for model in MODELS:
        try:
            model.model_validate_json(data)
        except ValidationError:
            pass
    try:
        parse_job_event(data)
    except ValidationError:
        pass


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_random_json_documents_are_refused_or_valid(value: object) -> None:
    raw = json.dumps(value)
    for model in MODELS:
        try:
            parsed = model.model_validate_json(raw)
        except ValidationError:
            continue
        assert model.model_validate_json(parsed.model_dump_json()) == parsed
