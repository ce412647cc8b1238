"""Talking to Kafka: the codec, the topics, publishing, dead letters, validation, the embedded broker."""
