"""Widget keywords that changed name between Panel releases (1.9 renamed Button.button_type to color)."""
import panel as pn

COLOR = "color" if "color" in pn.widgets.Button.param else "button_type"
LABEL = "label" if "label" in pn.widgets.Button.param else "name"


def look(kind: str) -> dict:
    """A button's colour: success, warning, primary, danger, light..."""
    return {COLOR: kind}


def button(text: str, kind: str, **kw) -> pn.widgets.Button:
    return pn.widgets.Button(**{LABEL: text}, **look(kind), **kw)


def param_widgets(pane) -> dict:
    """The widgets of a ``pn.Param`` pane by parameter name (its layout may nest them in rows)."""
    widgets = getattr(pane, "_widgets", None)
    if isinstance(widgets, dict) and widgets:
        return dict(widgets)
    return {getattr(w, "name", str(i)): w for i, w in enumerate(pane.layout.objects)}
