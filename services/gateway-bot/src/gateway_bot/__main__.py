from medialab_runtime.service import main

from gateway_bot.app import DIST, SERVICE, setup
from gateway_bot.settings import GatewaySettings

main(SERVICE, GatewaySettings, setup, dist=DIST)
