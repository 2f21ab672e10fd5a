"""The example's training set: every labelled transaction with consumer and card features at its time,
plus card activity aggregated from the raw transactions as of each transaction's exact timestamp."""

from featurestore.aggregations import Window
from featurestore.training.sets import QueryTimeWindows, TrainingSetSpec
from feature_groups import example_start

fraud_training = TrainingSetSpec(
    name="fraud_training",
    description="Transactions labelled fraud / not fraud, joined point-in-time to the consumer and card groups",
    entity_source="transactions",
    timestamp_column="event_time",
    entity_columns=("tid", "event_time", "cc_num", "consumer_id", "amount", "fraud_label"),
    label="fraud_label",
    features=("consumer:*", "card:*"),
    start=example_start("2026-10-01"),
    full_feature_names=True,  # consumer and card share feature names: columns are consumer__..., card__...
    query_windows=(
        QueryTimeWindows("transactions", ("cc_num",), (
            Window(None, "row_count", "1h", name="card_trans_last_1h_asof"),
            Window("amount", "max", "1d", name="card_max_amt_last_1d_asof"),
        )),
    ),
)
