# flake8: noqa

# import apis into api package
from sysinfo_client.api.health_api import HealthApi
from sysinfo_client.api.metrics_api import MetricsApi
from sysinfo_client.api.ping_api import PingApi
from sysinfo_client.api.ready_api import ReadyApi
from sysinfo_client.api.system_information_endpoints_api import SystemInformationEndpointsApi

