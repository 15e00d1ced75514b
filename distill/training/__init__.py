"""Networks, losses and the training loop: the teacher, its cached outputs, the students; the
training params sections as config objects."""
