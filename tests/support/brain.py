"""Brain test helpers: sample chatter."""



CHATTER = [
    "the cheese on the moon is made of green rock",
    "i like cheese on toast in the morning",
    "the pub is open until midnight tonight",
    "we should go to the pub after work",
    "toast is better with butter",
]
