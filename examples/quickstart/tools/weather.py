"""A synchronous tool: agentdown runs it in a worker thread so it never blocks the server."""

from typing import Annotated, Literal

from agentdown import tool

_FORECASTS = {
    "paris": (18, "sunny"),
    "london": (14, "light rain"),
    "seattle": (11, "overcast"),
    "tokyo": (22, "clear"),
}


@tool
def get_weather(
    city: Annotated[str, "The city, e.g. 'Paris'"],
    unit: Literal["celsius", "fahrenheit"] = "celsius",
) -> str:
    """Get today's weather forecast for a city."""
    temp_c, sky = _FORECASTS.get(city.strip().lower(), (20, "mild"))
    temp = temp_c if unit == "celsius" else round(temp_c * 9 / 5 + 32)
    symbol = "°C" if unit == "celsius" else "°F"
    return f"{city}: {sky}, {temp}{symbol}"
