"""The risk model: features of a declaration, the learner and scorer, and how rankings are measured."""
