"""The routers, in the order they see an update: commands first, modes next, errors, the catch-all last."""

from aiogram import Router

from gateway_bot.handlers import (
    admin,
    balance,
    cancel_job,
    common,
    confirm,
    create,
    edit,
    errors,
    faceswap,
    fallback,
    language,
    merge,
    privacy,
    promo,
    rephrase,
    retouch,
    status,
    text,
    topup,
    upscale,
    works,
    write,
)


def get_routers() -> list[Router]:
    return [
        common.router,
        language.router,  # /language
        admin.router,
        balance.router,
        topup.router,
        promo.router,  # /promo, /promo_new
        status.router,
        cancel_job.router,  # ❌ Отменить under a job's status
        privacy.router,  # /delete_me
        works.router,  # «🖼 Мои работы»
        create.router,  # M1
        write.router,  # M2
        edit.router,  # M3 (and the steps M8 shares)
        retouch.router,  # M4
        text.router,  # M5
        faceswap.router,  # M6
        upscale.router,  # M7
        merge.router,  # M8
        confirm.router,  # «✅ Запустить» under a price (extended form, 🔍 Upscale)
        rephrase.router,  # «✏️ Переформулировать» under a job a safety filter refused
        errors.router,
        fallback.router,  # stays last: answers whatever nobody else took
    ]
