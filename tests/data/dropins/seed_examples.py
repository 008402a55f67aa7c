# The original pubbot README's two examples, changing only the import.
from pubbot.api import handler, parse_chat_text


@parse_chat_text(r'foo=(?P<foo>[\d\w]+), bar=(?P<bar>[\d\w]+)')
def my_chat_handler(msg, foo, bar):
    return {
        'content': 'Foo was "%s", bar was "%s"' % (foo, bar),
        }


@handler(subscribe=['chat.irc.#.chat'])
def my_other_handler(msg):
    return {
        'content': 'You set something in irc',
        }
