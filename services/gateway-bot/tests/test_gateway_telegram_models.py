"""aiogram's models are built when used (``gateway_bot.telegram.models``), and every one of them can be.

Run in a fresh interpreter: the test process has imported aiogram the usual way long before.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json
import gateway_bot.app
from aiogram import types
from gateway_bot.telegram.models import aiogram_models

type_models = [m for m in aiogram_models() if m.__module__.startswith("aiogram.types.")]
built = [m.__name__ for m in type_models if m.__pydantic_complete__]
failed = []
for model in aiogram_models():
    try:
        model.model_rebuild()
    except Exception as error:
        failed.append(f"{model.__name__}: {error}")
update = types.Update.model_validate({
    "update_id": 1,
    "message": {
        "message_id": 7, "date": 0, "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A"},
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
        "reply_to_message": {"message_id": 6, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "t"},
    },
})
print(json.dumps({
    "models": len(aiogram_models()),
    "types_built": built,
    "failed": failed,
    "photo": update.message.photo[0].file_id,
    "replied": update.message.reply_to_message.text,
}))
"""


def test_the_gateway_imports_aiogram_with_its_models_unbuilt_and_each_builds_on_use() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["failed"] == []
    # aiogram's ~590 models (types and methods) each build when used; importing the gateway built none
    # of the types (its setup builds Update, at start).
    assert probe["models"] > 500
    assert probe["types_built"] == []
    assert (probe["photo"], probe["replied"]) == ("f", "t")
