"""The app through Streamlit's AppTest: it starts, prepares itself, and the corpus page works."""
from streamlit.testing.v1 import AppTest

TIMEOUT = 180


def run_page(path):
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    return at.run()


def test_app_starts_and_shows_notice(data_dir):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any("not medical advice" in w.value for w in at.warning)
    assert at.metric[0].label == "Documents indexed"
    assert int(at.metric[0].value) >= 3, "the seed corpus is indexed on first start"
