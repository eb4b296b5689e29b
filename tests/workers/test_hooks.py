from workers.hooks import Event, Provider


def test_an_event_calls_each_receiver_once_in_order():
    heard = []
    event = Event("test")
    first, second = (lambda **kw: heard.append(("first", kw))), (lambda **kw: heard.append(("second", kw)))
    event.connect(first, second)
    event.connect(first)  # connecting again changes nothing
    event.send(x=1)
    assert heard == [("first", {"x": 1}), ("second", {"x": 1})]


def test_a_provider_answers_with_its_function_or_the_default():
    provider = Provider("test", default=lambda kind: {})
    assert provider("chat") == {}
    provider.connect(lambda kind: {kind: 1.0})
    provider.connect(lambda kind: {kind: 2.0})  # replaces the first
    assert provider("chat") == {"chat": 2.0}
