tar -cvf handin.tar models MCQ mytorch CTC
