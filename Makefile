# The two commands: `make demo` runs the example end to end, `make test` runs the test suite.
# Both do all setup first: a virtualenv with the pinned dependencies and the Delta jars from Maven Central.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DELTA_VERSION := 4.3.0
# s3a:// support: hadoop-aws of pyspark's Hadoop (pyspark/jars/hadoop-client-api-3.4.2.jar) and the AWS SDK v2
# bundle its POM declares (hadoop-project 3.4.2: aws-java-sdk-v2.version = 2.29.52).
HADOOP_VERSION := 3.4.2
AWS_SDK_VERSION := 2.29.52
# Kafka: the Structured Streaming source of pyspark's Spark (into .jars/kafka, on every session's classpath) with
# the kafka-clients (3.9.1) and commons-pool2 (2.12.1) versions its POM declares; and a KRaft broker for the streaming tests
# (kafka_2.13 + runtime dependencies into .kafka, deps/kafka-broker/pom.xml).
SPARK_VERSION := 4.1.1
KAFKA_CLIENTS_VERSION := 3.9.1
COMMONS_POOL2_VERSION := 2.12.1
MVN_COPY := mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy -DoutputDirectory=.jars
MVN_COPY_KAFKA := $(MVN_COPY)/kafka
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: setup demo test ui clean

setup: $(VENV)/.installed .jars/.fetched .jars/.fetched-s3a .jars/.fetched-kafka .kafka/.fetched

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.jars/.fetched:
	mkdir -p .jars
	$(MVN_COPY) -Dartifact=io.delta:delta-spark_4.1_2.13:$(DELTA_VERSION)
	$(MVN_COPY) -Dartifact=io.delta:delta-storage:$(DELTA_VERSION)
	touch $@

.jars/.fetched-s3a:
	mkdir -p .jars
	$(MVN_COPY) -Dartifact=org.apache.hadoop:hadoop-aws:$(HADOOP_VERSION)
	$(MVN_COPY) -Dartifact=software.amazon.awssdk:bundle:$(AWS_SDK_VERSION)
	touch $@

.jars/.fetched-kafka:
	mkdir -p .jars/kafka
	$(MVN_COPY_KAFKA) -Dartifact=org.apache.spark:spark-sql-kafka-0-10_2.13:$(SPARK_VERSION)
	$(MVN_COPY_KAFKA) -Dartifact=org.apache.spark:spark-token-provider-kafka-0-10_2.13:$(SPARK_VERSION)
	$(MVN_COPY_KAFKA) -Dartifact=org.apache.kafka:kafka-clients:$(KAFKA_CLIENTS_VERSION)
	$(MVN_COPY_KAFKA) -Dartifact=org.apache.commons:commons-pool2:$(COMMONS_POOL2_VERSION)
	touch $@

.kafka/.fetched: deps/kafka-broker/pom.xml
	mkdir -p .kafka
	mvn -q -B -f deps/kafka-broker/pom.xml org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.kafka
	touch $@

demo: setup
	mkdir -p $(DAGSTER_HOME)
	$(PY) -m orchestration.demo

# The suite, then the time-zone matrix: the `tz` tests again on a machine in New York with the Spark session
# in Kolkata (a half-hour offset); results must be identical (tests/conftest.py).
test: setup
	$(PY) -m pytest
	TZ=America/New_York FEATURESTORE_TEST_SESSION_TZ=Asia/Kolkata $(PY) -m pytest -m tz -q

# the demo's settings (its partitions' start day, data size, store) from $(DAGSTER_HOME)/featurestore.env
ui: setup
	mkdir -p $(DAGSTER_HOME)
	set -a; [ ! -f "$(DAGSTER_HOME)/featurestore.env" ] || . "$(DAGSTER_HOME)/featurestore.env"; set +a; \
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf data
