from medialab_runtime.service import main

from billing.app import DIST, setup
from billing.settings import BillingSettings

main("billing", BillingSettings, setup, dist=DIST)
