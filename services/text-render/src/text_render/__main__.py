from medialab_runtime.service import main

from text_render.service import DIST, SERVICE_NAME, setup
from text_render.settings import TextRenderSettings

if __name__ == "__main__":
    main(SERVICE_NAME, TextRenderSettings, setup, dist=DIST)
