from medialab_runtime.service import main

from payments.app import DIST, SERVICE_NAME, setup
from payments.settings import PaymentsSettings

if __name__ == "__main__":
    main(SERVICE_NAME, PaymentsSettings, setup, dist=DIST)
