"""The envelope every bus message shares: a schema version and a trace id."""

from pydantic import BaseModel, ConfigDict, Field

from medialab_contracts.ids import new_trace_id

SCHEMA_VERSION = 1


class BusMessage(BaseModel):
    # Unknown fields are ignored so a newer producer can talk to an older consumer during a rollout.
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    trace_id: str = Field(default_factory=new_trace_id, max_length=64)
