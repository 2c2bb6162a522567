"""The Training panel's Distillation settings: teacher, temperature and alpha travel to the config."""

from layerloom.app.panels.train_settings import TrainSettings
from layerloom.runtime.config import TrainConfig


def test_distillation_settings_round_trip_and_enable_with_a_teacher(qtbot):
    form = TrainSettings()
    qtbot.addWidget(form)
    form.load(TrainConfig())
    assert form.teacher.text() == "" and not form.temperature.isEnabled() and not form.alpha.isEnabled()
    assert form.temperature.value() == 4.0 and form.alpha.value() == 0.9
    qtbot.keyClicks(form.teacher, "runs/20260101-lenet-5")
    assert form.temperature.isEnabled() and form.alpha.isEnabled()
    form.temperature.setValue(2.5)
    form.alpha.setValue(0.3)
    cfg = TrainConfig.from_dict(form.values())
    assert (cfg.teacher, cfg.temperature, cfg.alpha) == ("runs/20260101-lenet-5", 2.5, 0.3)
    form.load(TrainConfig(teacher="runs/t", temperature=6.0, alpha=0.5))
    assert (form.teacher.text(), form.temperature.value(), form.alpha.value()) == ("runs/t", 6.0, 0.5)
    form.set_mode("running")
    assert not form.teacher.isEnabled() and not form.teacher_browse.isEnabled()
    form.set_mode("idle")
    assert form.teacher.isEnabled() and form.alpha.isEnabled()
    form.teacher.clear()
    assert form.values()["teacher"] == "" and not form.alpha.isEnabled()
