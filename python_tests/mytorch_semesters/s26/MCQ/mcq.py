def question_1():
    return "a"
