from medialab_runtime.service import main

from gateway_bot.app import DIST, NAME, setup
from gateway_bot.settings import GatewaySettings

main(NAME, GatewaySettings, setup, dist=DIST)
