"""Hostile text CSVs: a quote that never closes, a label column with a label per row, rows without a label.
Each ends in a DataError that names the line or the count, or in a data set that agrees with the csv module."""
import csv
import io
from collections import Counter

import pytest
import torch
from hypothesis import given, settings, strategies as st

from layerloom.runtime.data import DataError, dataset_info, load_dataset


def _write(path, rows, header=("text", "label")):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return str(path)


def _labels(bundle):
    _, y_train = bundle.train.batch(torch.arange(len(bundle.train)))
    _, y_val = bundle.val.batch(torch.arange(len(bundle.val)))
    return Counter(bundle.info.class_names[i] for i in y_train.tolist() + y_val.tolist())


def _strict_reader_finds_an_open_quote(text: str) -> bool:
    """The csv module's own verdict: in strict mode it refuses a file that ends inside a quoted field."""
    try:
        list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def test_a_quote_that_never_closes_names_its_line_instead_of_losing_the_rows_after_it(tmp_path):
    lines = ["text,label"] + [f"review number {i},{'neg' if i % 2 == 0 else 'pos'}" for i in range(1000)]
    lines[501] = '"' + lines[501]                  # row 500, line 502 of the file
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(list(csv.DictReader(io.StringIO(path.read_text())))) == 501     # csv drops 499 rows silently
    with pytest.raises(DataError) as info:
        load_dataset("text-csv", path=str(path))
    assert str(info.value) == (
        'reviews.csv: line 502 opens a quote (") that never closes, so the 499 lines after it are read into that '
        "field instead of as rows: close the quote or remove it, then choose the file again.")


def test_a_quote_on_the_first_row_is_named_not_reported_as_too_few_rows(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('text,label\n"unclosed quote,pos\nx,neg\ny,pos\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2 opens a quote .* so the 2 lines after it are read") as info:
        dataset_info("text-csv", path=str(path))
    assert "fewer than 2" not in str(info.value)
    path.write_text('text,"label\nhello,a\nbye,b\n', encoding="utf-8")          # in the header line
    with pytest.raises(DataError, match=r"line 1 opens a quote"):
        dataset_info("text-csv", path=str(path))
    path.write_text('text,label\nhello,a\n\n\n"bye,b\nfoo,a\n', encoding="utf-8")   # blank lines before it
    with pytest.raises(DataError, match=r"line 5 opens a quote .* so the line after it is read"):
        dataset_info("text-csv", path=str(path))


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(n=st.integers(3, 40), data=st.data(), in_label=st.booleans(), end_newline=st.booleans())
def test_a_stray_quote_on_any_row_is_found_where_csv_itself_finds_it(tmp_path_factory, n, data, in_label,
                                                                      end_newline):
    k = data.draw(st.integers(0, n - 2), label="row with the stray quote")       # on the last row it loses nothing
    rows = [[f"words of row {i}", "ab"[i % 2]] for i in range(n)]
    rows[k][1 if in_label else 0] = '"' + rows[k][1 if in_label else 0]
    text = "text,label\n" + "\n".join(",".join(r) for r in rows) + ("\n" if end_newline else "")
    assert _strict_reader_finds_an_open_quote(text)
    path = tmp_path_factory.mktemp("q") / "t.csv"
    path.write_text(text, encoding="utf-8")
    after = n - 1 - k
    with pytest.raises(DataError) as info:
        load_dataset("text-csv", path=str(path), val_fraction=0.3)
    said = "the line after it is" if after == 1 else f"the {after:,} lines after it are"
    assert f"line {k + 2:,} opens a quote" in str(info.value) and said in str(info.value)


TEXT = st.text(st.sampled_from(list("ab ,;\"\n\t'xyz")), max_size=30)


@settings(derandomize=True, max_examples=80, deadline=None, database=None)
@given(rows=st.lists(st.tuples(TEXT, st.sampled_from(["neg", "pos", "mid", ""])), min_size=4, max_size=40))
def test_a_well_formed_csv_reads_as_the_csv_module_reads_it(tmp_path_factory, rows):
    """Quotes, commas and line breaks inside properly quoted fields are no open quote: the rows and labels are
    what the csv module reads, and the rows without a label are counted in the description."""
    rows = [("first", "neg"), ("second", "pos")] + rows
    path = tmp_path_factory.mktemp("w") / "t.csv"
    _write(path, rows)
    text = path.read_text(encoding="utf-8")
    assert not _strict_reader_finds_an_open_quote(text)
    read = list(csv.DictReader(io.StringIO(text), skipinitialspace=True))
    labelled = Counter(r["label"].strip() for r in read if r["label"].strip())
    empty = sum(1 for r in read if not r["label"].strip())
    bundle = load_dataset("text-csv", path=str(path), val_fraction=0.25)
    assert _labels(bundle) == labelled
    assert bundle.info.class_names == tuple(sorted(labelled))
    if empty:
        assert f"{empty:,} rows with an empty 'label' were left out." in bundle.info.description
    else:
        assert "left out" not in bundle.info.description


def test_a_label_column_with_a_label_per_row_is_refused_in_words(tmp_path):
    rows = [(f"hello world {i}", f"lab{i}") for i in range(5000)]
    path = _write(tmp_path / "many_labels.csv", rows)
    with pytest.raises(DataError) as info:
        dataset_info("text-csv", path=path)
    assert str(info.value).startswith("many_labels.csv: 'label' has 5,000 different values in 5,000 rows, fewer "
                                      "than 2 rows per label: is label_column right?")
    # the wrong column named the other way round: the texts are the labels
    with pytest.raises(DataError, match="'text' has 5,000 different values in 5,000 rows"):
        dataset_info("text-csv", path=path, text_column="label", label_column="text")


def test_many_classes_with_two_rows_each_are_numbered_as_sorted(tmp_path):
    rows = [(f"sample {i}", f"class{i % 3000:04d}") for i in range(6000)]        # 3,000 labels, 2 rows each
    path = _write(tmp_path / "pairs.csv", rows)
    bundle = load_dataset("text-csv", path=path, val_fraction=0.5)
    reference = Counter(label for _, label in rows)
    assert bundle.info.class_names == tuple(sorted(reference)) and _labels(bundle) == reference
    small = _write(tmp_path / "small.csv", [(f"t{i}", f"l{i}") for i in range(20)])   # a quick try: 20 labels
    assert dataset_info("text-csv", path=small).num_classes == 20


def test_too_few_labelled_rows_says_how_many_have_no_label(tmp_path):
    path = _write(tmp_path / "blank.csv", [("one", "a"), ("two", ""), ("three", " "), ("four", "")])
    with pytest.raises(DataError) as info:
        dataset_info("text-csv", path=path)
    assert str(info.value) == ("blank.csv has fewer than 2 labelled rows (3 of its 4 rows have an empty 'label'): "
                               "add more data.")
