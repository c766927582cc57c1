"""The processors' runtime adapters: Kafka outputs, timers, the faust app."""
