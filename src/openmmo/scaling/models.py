"""The configuration shapes of the scaling tools (``PREDICTION_ZONES``, ``COST_PRICES``):
plain validated data, so that invalid values are refused at start, naming the setting."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# ISO 4217 codes of the currencies in use (2026): a price in an unknown or
# misspelt currency is refused instead of being added to dollars.
CURRENCIES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


class ZoneTarget(BaseModel):
    """One zone predict-scale plans for (an item of ``PREDICTION_ZONES``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: str = Field(min_length=1, description="The `zone` label of openmmo_players_online.")
    hpa: str = Field("", description="The zone's HorizontalPodAutoscaler (for --patch).")
    min_replicas: int = Field(1, ge=1, description="The autoscaler's fewest channels.")
    max_replicas: int = Field(10, ge=1, description="The autoscaler's most channels.")
    players_per_channel: int = Field(
        700, ge=1, description="Players one channel holds within the latency goals (measured)."
    )

    @model_validator(mode="after")
    def _bounds(self) -> ZoneTarget:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        return self


class RegionPrices(BaseModel):
    """What one region's capacity costs, in the sheet's currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_demand_node_hour: float = Field(ge=0, allow_inf_nan=False)
    spot_node_hour: float | None = Field(None, ge=0, allow_inf_nan=False)
    egress_gb: float = Field(ge=0, allow_inf_nan=False)


class PriceSheet(BaseModel):
    """``COST_PRICES``: node and egress prices per region, on-demand and spot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str
    regions: dict[str, RegionPrices] = Field(min_length=1)
    target_per_player_hour: float = Field(0.02, gt=0, allow_inf_nan=False)

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"unknown currency {value!r} (an ISO 4217 code such as USD, EUR)")
        return value

    def node_hour(self, region: str, capacity_type: str) -> float:
        """The price of one node-hour; a region not in the sheet raises KeyError."""
        prices = self.regions[region]
        if capacity_type == "spot" and prices.spot_node_hour is not None:
            return prices.spot_node_hour
        return prices.on_demand_node_hour
