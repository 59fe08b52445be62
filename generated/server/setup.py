import sys
from setuptools import setup, find_packages

NAME = "sysinfo_server"
VERSION = "0.1.0"

# To install the library, run the following
#
# python setup.py install
#
# prerequisite: setuptools
# http://pypi.python.org/pypi/setuptools

REQUIRES = [
    "connexion[flask,swagger-ui,uvicorn]>=3.3.0,<4.0.0",
    "swagger-ui-bundle>=1.1.0",
    "Flask>=2.2.0,<4.0.0",
    "python_dateutil>=2.6.0"
]

setup(
    name=NAME,
    version=VERSION,
    description="InfluxDB v2 system information API",
    author_email="",
    url="",
    keywords=["OpenAPI", "InfluxDB v2 system information API"],
    install_requires=REQUIRES,
    packages=find_packages(),
    package_data={'': ['openapi/openapi.yaml']},
    include_package_data=True,
    entry_points={
        'console_scripts': ['sysinfo_server=sysinfo_server.__main__:main']},
    long_description="""\
    Performance, resource and usage metrics, health, readiness and liveness of a running instance, as the InfluxDB OSS v2 system-information endpoints serve them.
    """
)

