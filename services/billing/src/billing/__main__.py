from medialab_runtime.service import main

from billing.api import NAME
from billing.app import DIST, setup
from billing.settings import BillingSettings

main(NAME, BillingSettings, setup, dist=DIST)
