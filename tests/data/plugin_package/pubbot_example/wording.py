"""A module of the example package besides its plugin: a reload reads it again too."""


def repeat(greeting: str, times: int) -> str:
    return " ".join([greeting] * times)
