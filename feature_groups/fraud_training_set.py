"""The example's training set: every labelled transaction with consumer and card features at its time."""

from featurestore.training import TrainingSetSpec

fraud_training = TrainingSetSpec(
    name="fraud_training",
    description="Transactions labelled fraud / not fraud, joined point-in-time to the consumer and card groups",
    entity_source="transactions",
    timestamp_column="event_time",
    entity_columns=("tid", "event_time", "cc_num", "consumer_id", "amount", "fraud_label"),
    label="fraud_label",
    features=("consumer:*", "card:*"),
    start="2026-10-01",
)
