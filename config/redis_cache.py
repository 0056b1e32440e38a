"""Django's Redis cache, keeping one redis-py client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call; its constructor
fills a table of some 170 response callbacks, which made it a measurable part of a proxied
call (two or three cache calls each). A redis-py client is safe to share between threads (it
takes a connection from its pool per command) and its pool resets itself after a fork, so one
per pool is enough.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def incr_expiring(self, key, ttl: int) -> int:
        """Add 1 to a counter, created at 1, expiring ttl seconds after its last use: one round trip.

        Django's add() then incr() cost three (SET NX, EXISTS, INCRBY) on every proxied call.
        """
        full = self.make_and_validate_key(key)
        pipe = self._cache.get_client(full, write=True).pipeline(transaction=False)
        pipe.incr(full)
        pipe.expire(full, ttl)
        count, _expiry = pipe.execute()
        return int(count)
