import asyncpg
import nats


async def test_nats_fixture_has_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().account_info()
        assert info.streams == 0
    finally:
        await nc.close()


async def test_database_fixture_is_fresh_and_writable(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE probe (id bigint primary key)")
        await conn.execute("INSERT INTO probe VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM probe") == 1
    finally:
        await conn.close()
