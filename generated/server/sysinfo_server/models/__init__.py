# flake8: noqa
# import models into model package
from sysinfo_server.models.error import Error
from sysinfo_server.models.error_code import ErrorCode
from sysinfo_server.models.health_check import HealthCheck
from sysinfo_server.models.ready import Ready
