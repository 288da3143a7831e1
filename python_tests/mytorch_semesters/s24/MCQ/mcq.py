# ruff: noqa  (a handout file, in the handout's style)
def question_1():
    return "a"
